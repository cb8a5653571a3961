"""The fault kinds (*loại lỗi*): each one class that declares when it acts on a request, applies
itself, says what the province sees, and checks the operations a rule names.

A new kind is one class here (or in a module of its family: the contract-drift kinds of FM-08
are in :mod:`mock_services.fault_drift`, on the base of :mod:`mock_services.fault_base`),
added to :data:`Fault`; the engine
(:mod:`mock_services.faults`), the scenario checks (:mod:`mock_services.scenarios`), the report
(:mod:`ndxp_sim.report`) and the README's reference (:mod:`mock_services.scenario_docs`) read
everything else from the class. A kind's *phase* is where in a request it acts:

``capacity``
    around everything else: admit, queue or shed the request (``overload``);
``delay``
    before the handler; the delays of every fired rule of this phase add up (``latency``);
``answer``
    before the handler; the first fired rule of this phase, in file order, answers instead of
    the handler (``http_error``, ``unavailable``, ``maintenance``, ``reset`` before the
    response, ``require_field`` on a request without the field) or waits and lets it run
    (``hang``);
``body``
    after the handler, on a 2xx answer, in the order of :attr:`FaultKind.body_order` then file
    order: a kind may replace the answer (``dangling_file``, ``empty_body``: the others then
    have nothing left to change) or rewrite its JSON (``empty_list``, ``drop_fields``,
    ``stale_status``, ``wrong_value``, and FM-08's ``rename_field``, ``change_type``,
    ``change_enum``, ``date_format``);
``after_body``
    last: the first fired rule of this phase sends the answer its way (``reset`` during the
    body);
``gateway``
    at the gateway, never in a mock: the gateway refuses the call itself
    (``sandbox_window``, :mod:`mock_services.fault_gateway`; rules with ``match.hop: gateway``).

Class attributes say what the report needs: ``failure_mode`` (the default FM), ``outcomes``
(the gateway outcomes the kind causes) and ``spoils`` (what it does to an answer the gateway
still passes on as ``ok``). ``keyed`` kinds draw once per record (file id, dossier id) instead
of once per request, so a retry sees the same broken file and a frozen status stays frozen.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections import deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, Field, model_validator
from starlette.responses import Response

from contracts.catalogue import Operation
from contracts.common import LifecycleStatus
from contracts.headers import INJECTED_FAULT_HEADER
from mock_services.fault_base import (
    CALLER_GONE,
    Applying,
    Body,
    FaultKind,
    Loc,
    Phase,
    path_issues,
    problem,
)
from mock_services.fault_bodies import (
    Staleness,
    check_value,
    drop_fields,
    empty_lists,
    set_fields,
    stale_page,
    stale_record,
    stale_status_changes,
)
from mock_services.fault_drift import (
    ChangeEnum,
    ChangeType,
    DateFormat,
    RenameField,
    RequireField,
)
from mock_services.fault_gateway import SandboxWindow
from mock_services.fault_network import ResetResponse, server_transport
from mock_services.fault_values import Window
from ndxp_config.simclock import retry_after

# z = 1.6449: the 95th percentile of the standard normal, to fit a lognormal from p50 and p95.
_Z95 = 1.6448536269514722
# Response models with a status history: what stale_status can rewrite.
HISTORY_MODELS = frozenset(
    {
        "civil_registry:Registration",
        "civil_registry:StatusChangePage",
        "driver_licence:RenewalDossier",
        "driver_licence:RenewalDossierPage",
        "business_registry:DossierDetail",
    }
)


# -- capacity ----------------------------------------------------------------------------


class Capacity:
    """``limit`` requests in service, ``queue`` waiting in FIFO order, the rest shed.

    The queue timeout runs on the event loop's clock, not the injected ``sleep``: a queued
    request waits for other requests to finish, which no fake sleep can stand in for.
    """

    def __init__(self, limit: int, queue: int) -> None:
        self.limit, self.queue = limit, queue
        self.active = 0
        self.waiting: deque[asyncio.Future[None]] = deque()

    async def acquire(self, timeout_s: float) -> Literal["admitted", "queued", "shed"]:
        if self.active < self.limit and not self.waiting:
            self.active += 1
            return "admitted"
        if len(self.waiting) >= self.queue:
            return "shed"
        slot = asyncio.get_running_loop().create_future()
        self.waiting.append(slot)
        try:
            await asyncio.wait_for(asyncio.shield(slot), timeout_s)
        except TimeoutError:
            if slot.done():
                return "queued"  # the slot came as the wait ran out: take it
            self.waiting.remove(slot)
            return "shed"
        except asyncio.CancelledError:
            if slot.done():
                self.release()
            else:
                self.waiting.remove(slot)
            raise
        return "queued"

    def release(self) -> None:
        while self.waiting:
            slot = self.waiting.popleft()
            if not slot.done():
                slot.set_result(None)  # the slot passes to the next in line
                return
        self.active -= 1


class Overload(FaultKind):
    """A capacity: at most ``max_concurrent`` in service, ``max_queue`` waiting, then 503."""

    PHASE: ClassVar[Phase] = "capacity"
    failure_mode: ClassVar[str] = "FM-02"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_overloaded", "upstream_timeout"})
    drawn: ClassVar[bool] = False
    sees: ClassVar[str] = (
        "slow answers while queued; past the queue, 503 `provider_overloaded` with Retry-After"
    )

    kind: Literal["overload"]
    max_concurrent: int = Field(ge=1)
    max_queue: int = Field(default=0, ge=0)
    queue_timeout_s: float = Field(default=5.0, gt=0, description="Longest wait for a slot.")
    service_time_ms: float = Field(
        default=0.0, ge=0, description="Extra time each request holds its slot (a slow backend)."
    )
    retry_after_s: int = Field(
        default=5,
        ge=0,
        description="Simulated seconds; sent x NDXP_TIME_SCALE, rounded up (0 stays 0).",
    )

    def new_state(self) -> Capacity:
        return Capacity(self.max_concurrent, self.max_queue)

    def describe_state(self, state: Any) -> dict[str, Any]:
        return {"in_service": state.active, "queued": len(state.waiting)}

    @asynccontextmanager
    async def hold(self, at: Applying) -> AsyncIterator[Response | None]:
        capacity: Capacity = at.state
        entry = await capacity.acquire(self.queue_timeout_s * at.scale)
        if entry == "shed":
            at.mark()
            yield problem(
                503,
                "provider_overloaded",
                "The national database is overloaded (quá tải)",
                "Too many requests in service and in the queue; retry later.",
                retry_after_s=retry_after(self.retry_after_s, at.scale),
            )
            return
        if entry == "queued":
            at.mark()
        try:
            if await at.wait(self.service_time_ms / 1000):
                yield Response(status_code=CALLER_GONE)
            else:
                yield None
        finally:
            capacity.release()

    def summary(self) -> str:
        return (
            f"{self.max_concurrent} in service, {self.max_queue} queued (up to "
            f"{self.queue_timeout_s:g} s), each holding its slot {self.service_time_ms:g} ms; "
            f"the rest 503 `provider_overloaded`, Retry-After {self.retry_after_s} s"
        )


# -- delay -------------------------------------------------------------------------------


class Latency(FaultKind):
    """Answer late: fixed, uniform or lognormal (from its median and 95th percentile)."""

    PHASE: ClassVar[Phase] = "delay"
    failure_mode: ClassVar[str] = "FM-01"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_timeout"})
    sees: ClassVar[str] = "a late answer; past the gateway's read timeout, 504 `upstream_timeout`"

    kind: Literal["latency"]
    distribution: Literal["fixed", "uniform", "lognormal"] = "fixed"
    ms: float | None = Field(default=None, ge=0, description="fixed: the delay.")
    min_ms: float | None = Field(default=None, ge=0, description="uniform: lower bound.")
    max_ms: float | None = Field(default=None, ge=0, description="uniform: upper bound.")
    p50_ms: float | None = Field(default=None, gt=0, description="lognormal: median.")
    p95_ms: float | None = Field(default=None, gt=0, description="lognormal: 95th percentile.")
    cap_ms: float | None = Field(default=None, gt=0, description="Never wait longer than this.")

    @model_validator(mode="after")
    def _parameters_of_the_distribution(self) -> Latency:
        needs = {
            "fixed": ("ms",),
            "uniform": ("min_ms", "max_ms"),
            "lognormal": ("p50_ms", "p95_ms"),
        }
        missing = [name for name in needs[self.distribution] if getattr(self, name) is None]
        if missing:
            raise ValueError(f"a {self.distribution} latency needs {' and '.join(missing)}")
        extra = [
            name
            for name in ("ms", "min_ms", "max_ms", "p50_ms", "p95_ms")
            if name not in needs[self.distribution] and getattr(self, name) is not None
        ]
        if extra:
            raise ValueError(f"a {self.distribution} latency takes no {', '.join(extra)}")
        if self.min_ms is not None and self.max_ms is not None and self.min_ms > self.max_ms:
            raise ValueError("min_ms must not exceed max_ms")
        if self.p50_ms is not None and self.p95_ms is not None and self.p95_ms <= self.p50_ms:
            raise ValueError("p95_ms must exceed p50_ms")
        return self

    def sample_s(self, rng: random.Random) -> float:
        """One delay, in seconds, drawn from the rule's own generator."""
        if self.distribution == "fixed":
            ms = self.ms or 0.0
        elif self.distribution == "uniform":
            ms = rng.uniform(self.min_ms or 0.0, self.max_ms or 0.0)
        else:
            p50, p95 = self.p50_ms or 1.0, self.p95_ms or 2.0
            ms = rng.lognormvariate(math.log(p50), (math.log(p95) - math.log(p50)) / _Z95)
        if self.cap_ms is not None:
            ms = min(ms, self.cap_ms)
        return ms / 1000

    def delay_s(self, rng: random.Random) -> float:
        return self.sample_s(rng)

    def summary(self) -> str:
        if self.distribution == "fixed":
            shape = f"{_seconds(self.ms)}"
        elif self.distribution == "uniform":
            shape = f"{_seconds(self.min_ms)}–{_seconds(self.max_ms)}"
        else:
            shape = f"p50 {_seconds(self.p50_ms)}, p95 {_seconds(self.p95_ms)}"
        cap = f" (at most {_seconds(self.cap_ms)})" if self.cap_ms is not None else ""
        return f"answers after {shape}{cap}; past the read timeout, 504 `upstream_timeout`"


def _seconds(ms: float | None) -> str:
    value = (ms or 0.0) / 1000
    return f"{value:g} s"


# -- answer ------------------------------------------------------------------------------


class Hang(FaultKind):
    """Say nothing for longer than the gateway waits (its read timeout is 30 s), then answer."""

    PHASE: ClassVar[Phase] = "answer"
    failure_mode: ClassVar[str] = "FM-01"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_timeout"})
    sees: ClassVar[str] = "nothing, until the gateway gives up: 504 `upstream_timeout`"

    kind: Literal["hang"]
    duration_s: float = Field(default=120.0, gt=0, description="How long to stay silent.")

    async def answer(self, at: Applying) -> Response | None:
        at.mark()
        if await at.wait(self.duration_s):
            return Response(status_code=CALLER_GONE)
        return None

    def summary(self) -> str:
        return f"silent for {self.duration_s:g} s → 504 `upstream_timeout`"


class HttpError(FaultKind):
    """Fail with a 5xx problem+json; the handler does not run."""

    PHASE: ClassVar[Phase] = "answer"
    failure_mode: ClassVar[str] = "FM-02"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_error", "upstream_overloaded"})
    sees: ClassVar[str] = "the 5xx, passed on by the gateway (logged `upstream_error`)"

    kind: Literal["http_error"]
    status: int = Field(default=500, ge=500, le=599)
    code: str = Field(default="provider_error", pattern=r"^[a-z][a-z0-9_]*$")
    title: str = "The national database failed to process the request"

    async def answer(self, at: Applying) -> Response | None:
        at.mark()
        return problem(
            self.status, self.code, self.title, "The national database failed to answer."
        )

    def summary(self) -> str:
        return f"{self.status} `{self.code}`"


class Unavailable(FaultKind):
    """503 with ``Retry-After``; the handler does not run."""

    PHASE: ClassVar[Phase] = "answer"
    failure_mode: ClassVar[str] = "FM-02"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_overloaded"})
    sees: ClassVar[str] = "503 with Retry-After (logged `upstream_overloaded`)"

    kind: Literal["unavailable"]
    retry_after_s: int = Field(
        default=30,
        ge=0,
        description="Simulated seconds; sent x NDXP_TIME_SCALE, rounded up (0 stays 0).",
    )
    code: str = Field(default="service_unavailable", pattern=r"^[a-z][a-z0-9_]*$")

    async def answer(self, at: Applying) -> Response | None:
        at.mark()
        return problem(
            503,
            self.code,
            "The national database is unavailable",
            "The service is temporarily unavailable; retry after the indicated delay.",
            retry_after_s=retry_after(self.retry_after_s, at.scale),
        )

    def summary(self) -> str:
        return f"503 `{self.code}`, Retry-After {self.retry_after_s} s"


class Maintenance(FaultKind):
    """503 ``provider_maintenance`` inside the windows, ``Retry-After`` to the window's end."""

    PHASE: ClassVar[Phase] = "answer"
    failure_mode: ClassVar[str] = "FM-11"
    outcomes: ClassVar[frozenset[str]] = frozenset({"provider_maintenance"})
    sees: ClassVar[str] = "503 `provider_maintenance`, Retry-After to the end of the window"

    kind: Literal["maintenance"]
    windows: tuple[Window, ...] = Field(min_length=1)

    def window_at(self, now: datetime) -> Window | None:
        return next((window for window in self.windows if window.contains(now)), None)

    def in_force(self, now: datetime) -> bool:
        return self.window_at(now) is not None

    async def answer(self, at: Applying) -> Response | None:
        window = self.window_at(at.now)
        if window is None:  # in_force said yes a moment ago; the clock has moved on
            return None
        at.mark()
        end = window.ends_at(at.now)
        return problem(
            503,
            "provider_maintenance",
            "The national database is under maintenance (bảo trì)",
            f"Scheduled maintenance until {end:%H:%M} local time (Asia/Ho_Chi_Minh).",
            retry_after_s=retry_after((end - at.now).total_seconds(), at.scale),
        )

    def summary(self) -> str:
        windows = "; ".join(window.describe() for window in self.windows)
        return f"503 `provider_maintenance` {windows} (local time), Retry-After to the end"


class Reset(FaultKind):
    """Drop the TCP connection: before any byte of the response, or after part of its body."""

    PHASE: ClassVar[Phase] = "answer"
    failure_mode: ClassVar[str] = "FM-02"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_reset"})
    sees: ClassVar[str] = "a dropped connection → 502 `upstream_reset`"

    kind: Literal["reset"]
    phase: Literal["before_response", "during_body"] = "before_response"

    def acts_in(self) -> Phase:
        return "answer" if self.phase == "before_response" else "after_body"

    async def answer(self, at: Applying) -> Response | None:
        at.mark()
        return ResetResponse("before_response", server_transport(at.request))

    def after(self, at: Applying, response: Response) -> Response:
        return ResetResponse(
            "during_body",
            server_transport(at.request),
            content=bytes(response.body),
            status_code=response.status_code,
            headers=dict(response.headers),
        )

    def summary(self) -> str:
        if self.phase == "before_response":
            return "the connection dropped before any answer → 502 `upstream_reset`"
        return "the connection dropped halfway through the body → 502 `upstream_reset`"


# -- body --------------------------------------------------------------------------------


class DanglingFile(FaultKind):
    """The file id is in the dossier, but its download answers 404 (per file id)."""

    PHASE: ClassVar[Phase] = "body"
    failure_mode: ClassVar[str] = "FM-05"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_rejected"})
    keyed: ClassVar[bool] = True
    body_order: ClassVar[int] = 0
    needs_operations: ClassVar[bool] = True
    sees: ClassVar[str] = "404 `not_found` for a file id the dossier lists (always the same ids)"

    kind: Literal["dangling_file"]

    def alter(self, at: Applying, body: Body) -> bool:
        file_id = str(at.request.path_params.get("file_id"))
        if not at.keyed(file_id):
            return False
        body.replace(problem(404, "not_found", "Not found", f"No dossier file has id {file_id}."))
        return True

    def operation_issues(self, op: Operation) -> Iterable[tuple[Loc, str]]:
        if op.operation_id != "download_file":
            yield (), "dangling_file applies to download_file only"


class EmptyBody(FaultKind):
    """Run the handler, keep its status and headers, send no body bytes."""

    PHASE: ClassVar[Phase] = "body"
    failure_mode: ClassVar[str] = "FM-03"
    spoils: ClassVar[str | None] = "empty_answer"
    body_order: ClassVar[int] = 1
    sees: ClassVar[str] = "200 with no body (contract violation `$`)"

    kind: Literal["empty_body"]

    def alter(self, at: Applying, body: Body) -> bool:
        body.replace(Response(b"", body.response.status_code, body.headers))
        return True

    def explains(self, violations: Iterable[str]) -> tuple[str, ...]:
        return tuple(violations)


class EmptyList(FaultKind):
    """Empty the lists at these JSON paths (a page's ``items``: its ``total`` becomes 0)."""

    PHASE: ClassVar[Phase] = "body"
    failure_mode: ClassVar[str] = "FM-03"
    spoils: ClassVar[str | None] = "empty_answer"
    needs_operations: ClassVar[bool] = True
    sees: ClassVar[str] = "200 with the lists empty (a page says total 0)"

    kind: Literal["empty_list"]
    paths: tuple[str, ...] = Field(default=("items",), min_length=1)

    def alter(self, at: Applying, body: Body) -> bool:
        data = body.data()
        return data is not None and empty_lists(data, self.paths) > 0

    def operation_issues(self, op: Operation) -> Iterable[tuple[Loc, str]]:
        return path_issues(op, "paths", self.paths, want_list=True)

    def summary(self) -> str:
        return f"200 with {', '.join(self.paths)} empty"


class DropFields(FaultKind):
    """Remove the fields at these JSON paths, e.g. ``items[*].phone``, ``father.date_of_birth``."""

    PHASE: ClassVar[Phase] = "body"
    failure_mode: ClassVar[str] = "FM-04"
    spoils: ClassVar[str | None] = "missing_fields"
    needs_operations: ClassVar[bool] = True
    sees: ClassVar[str] = "200 without the fields; the gateway flags `X-NDXP-Contract-Violations`"

    kind: Literal["drop_fields"]
    fields: tuple[str, ...] = Field(min_length=1)

    def alter(self, at: Applying, body: Body) -> bool:
        data = body.data()
        return data is not None and drop_fields(data, self.fields) > 0

    def operation_issues(self, op: Operation) -> Iterable[tuple[Loc, str]]:
        return path_issues(op, "fields", self.fields, want_list=False)

    def explains(self, violations: Iterable[str]) -> tuple[str, ...]:
        named = {path.replace("[*]", "[]") for path in self.fields}  # as the gateway reports
        return tuple(v for v in violations if v in named)

    def summary(self) -> str:
        return f"200 without {', '.join(f'`{f}`' for f in self.fields)}"


class WrongValue(FaultKind):
    """Answer wrong values where the contract allows them — plausible, so no check catches
    them (*dữ liệu không chính xác*): e.g. a marital status, an emptied religion. Per record:
    the same record is always wrong the same way."""

    PHASE: ClassVar[Phase] = "body"
    failure_mode: ClassVar[str] = "FM-04"
    spoils: ClassVar[str | None] = "wrong_value"
    keyed: ClassVar[bool] = True
    needs_operations: ClassVar[bool] = True
    sees: ClassVar[str] = "200 with valid but wrong values; nothing flags them"

    kind: Literal["wrong_value"]
    values: dict[str, Any] = Field(
        min_length=1, description="JSON path → the value answered there instead of the truth."
    )

    def alter(self, at: Applying, body: Body) -> bool:
        data = body.data()
        if data is None or not at.keyed(at.request.url.path):
            return False
        return set_fields(data, self.values) > 0

    def operation_issues(self, op: Operation) -> Iterable[tuple[Loc, str]]:
        model = op.load_response_model()
        if model is None:
            yield (), f"{op.operation_id} answers a file, not JSON"
            return
        for path, value in self.values.items():
            why = check_value(model, path, value)
            if why is not None:
                yield ("fault", "values", path), f"{op.operation_id}: {why}"

    def summary(self) -> str:
        shown = ", ".join(f"`{path}` = {json.dumps(value, ensure_ascii=False)}"
                          for path, value in self.values.items())  # fmt: skip
        return f"200 with {shown} (valid, wrong; nothing flags it)"


class StaleStatus(FaultKind):
    """Dossier statuses not reported (per dossier): hidden, or frozen early.

    Applies to records with a status history: civil-registry registrations and their status
    changes, driver-licence renewal dossiers, business-registration dossier details.
    """

    PHASE: ClassVar[Phase] = "body"
    failure_mode: ClassVar[str] = "FM-06"
    spoils: ClassVar[str | None] = "stale_status"
    keyed: ClassVar[bool] = True
    needs_operations: ClassVar[bool] = True
    sees: ClassVar[str] = "200 with a history (and status) missing the hidden steps"

    kind: Literal["stale_status"]
    hidden_statuses: tuple[LifecycleStatus, ...] = Field(
        default=(), description="Transitions never reported, e.g. paused, rejected, overdue."
    )
    frozen_at: Literal["received", "processing"] | None = Field(
        default=None, description="The status stops advancing here (mới đăng ký, chưa đồng bộ)."
    )

    @model_validator(mode="after")
    def _something_to_hide(self) -> StaleStatus:
        if not self.hidden_statuses and self.frozen_at is None:
            raise ValueError("name hidden_statuses, frozen_at or both")
        if "received" in self.hidden_statuses:
            raise ValueError("received is the first transition of every registration: keep it")
        return self

    def alter(self, at: Applying, body: Body) -> bool:
        data = body.data()
        if not isinstance(data, dict):
            return False
        staleness = Staleness(frozenset(self.hidden_statuses), self.frozen_at, at.keyed)
        if "items" not in data:
            return stale_record(data, staleness)
        items = data.get("items") or []
        if items and isinstance(items[0], dict) and "history" in items[0]:
            return stale_page(data, staleness)
        return stale_status_changes(data, staleness)

    def operation_issues(self, op: Operation) -> Iterable[tuple[Loc, str]]:
        if op.response_model not in HISTORY_MODELS:
            yield (
                (),
                (
                    "stale_status rewrites records with a status history: civil-registry "
                    "registrations and status changes, renewal dossiers, business dossier details"
                ),
            )

    def summary(self) -> str:
        parts = []
        if self.hidden_statuses:
            parts.append(f"{', '.join(self.hidden_statuses)} never shown")
        if self.frozen_at:
            parts.append(f"the status stops at {self.frozen_at}")
        return "; ".join(parts)


Fault = Annotated[
    Latency
    | Hang
    | HttpError
    | Unavailable
    | Reset
    | EmptyBody
    | EmptyList
    | DropFields
    | DanglingFile
    | StaleStatus
    | Maintenance
    | Overload
    | WrongValue
    | RenameField
    | ChangeType
    | ChangeEnum
    | DateFormat
    | RequireField
    | SandboxWindow,
    Field(discriminator="kind"),
]
KIND_CLASSES: dict[str, type[FaultKind]] = {
    get_args(cls.model_fields["kind"].annotation)[0]: cls  # kind: Literal["latency"]
    for cls in get_args(get_args(Fault)[0])
}
FAULT_KINDS = frozenset(KIND_CLASSES)
# Decided once per record (file id, registration id) instead of once per request.
KEYED_KINDS = frozenset(kind for kind, cls in KIND_CLASSES.items() if cls.keyed)


def _shown(default: Any, required: bool) -> str:
    if required:
        return "required"
    if default is None or default == ():
        return "none"
    if isinstance(default, tuple):
        return ", ".join(str(item) for item in default)
    return f"{default:g}" if isinstance(default, float) else str(default)


def parameters(cls: type[BaseModel]) -> list[tuple[str, str, str]]:
    """(name, default, description) of a kind's parameters, for the reference."""
    found = []
    for name, info in cls.model_fields.items():
        if name == "kind":
            continue
        found.append((name, _shown(info.default, info.is_required()), info.description or ""))
    return found


__all__ = [
    "CALLER_GONE",
    "FAULT_KINDS",
    "INJECTED_FAULT_HEADER",
    "KEYED_KINDS",
    "KIND_CLASSES",
    "Applying",
    "Body",
    "DanglingFile",
    "DropFields",
    "EmptyBody",
    "EmptyList",
    "Fault",
    "FaultKind",
    "Hang",
    "HttpError",
    "Latency",
    "Maintenance",
    "Overload",
    "Phase",
    "Reset",
    "SandboxWindow",
    "StaleStatus",
    "Unavailable",
    "WrongValue",
    "parameters",
]
