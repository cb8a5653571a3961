"""What a fault rule is (*quy tắc lỗi*): where it matches and what it does — frozen values.

A scenario file (:mod:`mock_services.scenarios`) lists rules; the engine
(:mod:`mock_services.faults`) applies them. A rule is::

    id: slow-business-registry      # unique in the scenario; named in X-NDXP-Injected-Fault
    failure_mode: FM-01             # the failure mode of REPORTS.md it reproduces
    source: ["003 Phụ lục V row 20 (Thanh Hóa)"]
    match:                          # every condition must hold
      provider: business-registry
      operations: [list_enterprise_dossiers]   # empty: every operation of the provider
      provinces: ["038"]            # X-NDXP-Province, forwarded by the gateway; empty: any
      consumers: [onestop-thanh-hoa]   # X-NDXP-Consumer; empty: any
      during: [{days: [mon, tue, wed, thu, fri], start: "08:00", end: "11:30"}]  # local time
    probability: 0.3                # per matching request (per file / registration: see below)
    fault: {kind: latency, distribution: lognormal, p50_ms: 3000, p95_ms: 32000}

Fault kinds: ``latency``, ``hang``, ``http_error`` (5xx), ``unavailable`` (503 +
Retry-After), ``reset`` (before the response or during its body), ``empty_body``,
``empty_list``, ``drop_fields``, ``dangling_file``, ``stale_status``, ``maintenance``,
``overload``. Two are properties of a record rather than of a request — ``dangling_file``
(per file id) and ``stale_status`` (per dossier or registration) — so their probability is drawn per
record, keyed by its id: a retry sees the same broken file, a frozen status stays frozen.
Times of day are local to Asia/Ho_Chi_Minh (UTC+7, no daylight saving since 1975).
"""

from __future__ import annotations

import math
import random
from datetime import datetime, timedelta
from typing import Annotated, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from contracts.catalogue import Provider
from contracts.common import LifecycleStatus
from mock_services.dossiers import VIETNAM_TZ
from mock_services.failure_modes import unknown_failure_mode

Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
WEEKDAYS: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
CLOCK_TIME_PATTERN = r"^(([01]\d|2[0-3]):[0-5]\d|24:00)$"
RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"
# z = 1.6449: the 95th percentile of the standard normal, to fit a lognormal from p50 and p95.
_Z95 = 1.6448536269514722


class Spec(BaseModel):
    """Base of the scenario values: unknown keys are refused, so a typo never passes silently."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def clock_minutes(hhmm: str) -> int:
    """``"08:30"`` → 510 minutes after local midnight (``"24:00"`` → 1440)."""
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


class Window(Spec):
    """A weekly local-time window (*khung giờ*), e.g. weekdays 08:00–11:30; ``end`` excluded.

    A window never spans midnight: write two (``22:00``–``24:00`` and ``00:00``–``02:00``).
    """

    days: tuple[Weekday, ...] = Field(default=WEEKDAYS, min_length=1, description="Weekdays.")
    start: str = Field(pattern=CLOCK_TIME_PATTERN, description="Local start, HH:MM.")
    end: str = Field(pattern=CLOCK_TIME_PATTERN, description="Local end, HH:MM (24:00 allowed).")

    @model_validator(mode="after")
    def _start_before_end(self) -> Window:
        if clock_minutes(self.start) >= clock_minutes(self.end):
            raise ValueError(
                f"start {self.start} must be before end {self.end}; split a window that "
                "spans midnight in two"
            )
        return self

    def contains(self, now: datetime) -> bool:
        local = now.astimezone(VIETNAM_TZ)
        minute = local.hour * 60 + local.minute
        return WEEKDAYS[local.weekday()] in self.days and clock_minutes(
            self.start
        ) <= minute < clock_minutes(self.end)

    def ends_at(self, now: datetime) -> datetime:
        """The end of this window on ``now``'s local day (the window is assumed to contain it)."""
        local = now.astimezone(VIETNAM_TZ)
        midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
        return midnight + timedelta(minutes=clock_minutes(self.end))


class FaultKind(Spec):
    """A kind of fault: what the province sees and which failure mode it reproduces by default.

    ``outcomes``: the gateway outcomes (exchange log) this kind causes when it makes the
    exchange fail; ``spoils``: what it does to an answer the gateway still passes on as ``ok``
    (an empty answer, missing fields, a stale status) — a failure the report counts although
    the exchange succeeded. ``failure_mode``: the mode a rule of this kind counts for when no
    scenario document says otherwise.
    """

    failure_mode: ClassVar[str] = ""
    outcomes: ClassVar[frozenset[str]] = frozenset()
    spoils: ClassVar[str | None] = None


class Match(Spec):
    """Which requests a rule concerns; every condition given must hold."""

    provider: Provider = Field(description="The mock national database the rule applies to.")
    operations: tuple[str, ...] = Field(
        default=(), description="Operation ids of the catalogue; empty: all of the provider's."
    )
    provinces: tuple[str, ...] = Field(
        default=(), description="Calling provinces (X-NDXP-Province), 3-digit codes; empty: any."
    )
    consumers: tuple[str, ...] = Field(
        default=(), description="Calling systems (X-NDXP-Consumer); empty: any."
    )
    during: tuple[Window, ...] = Field(
        default=(), description="Local-time windows when the rule is live; empty: always."
    )

    def matches(
        self, operation_id: str, consumer: str | None, province: str | None, now: datetime
    ) -> bool:
        return (
            (not self.operations or operation_id in self.operations)
            and (not self.provinces or province in self.provinces)
            and (not self.consumers or consumer in self.consumers)
            and (not self.during or any(window.contains(now) for window in self.during))
        )


class Latency(FaultKind):
    """Answer late: fixed, uniform or lognormal (from its median and 95th percentile)."""

    failure_mode: ClassVar[str] = "FM-01"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_timeout"})

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


class Hang(FaultKind):
    """Say nothing for longer than the gateway waits (its read timeout is 30 s), then answer."""

    failure_mode: ClassVar[str] = "FM-01"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_timeout"})

    kind: Literal["hang"]
    duration_s: float = Field(default=120.0, gt=0, description="How long to stay silent.")


class HttpError(FaultKind):
    """Fail with a 5xx problem+json; the handler does not run."""

    failure_mode: ClassVar[str] = "FM-02"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_error", "upstream_overloaded"})

    kind: Literal["http_error"]
    status: int = Field(default=500, ge=500, le=599)
    code: str = Field(default="provider_error", pattern=r"^[a-z][a-z0-9_]*$")
    title: str = "The national database failed to process the request"


class Unavailable(FaultKind):
    """503 with ``Retry-After``; the handler does not run."""

    failure_mode: ClassVar[str] = "FM-02"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_overloaded"})

    kind: Literal["unavailable"]
    retry_after_s: int = Field(default=30, ge=0)
    code: str = Field(default="service_unavailable", pattern=r"^[a-z][a-z0-9_]*$")


class Reset(FaultKind):
    """Drop the TCP connection: before any byte of the response, or after part of its body."""

    failure_mode: ClassVar[str] = "FM-02"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_reset"})

    kind: Literal["reset"]
    phase: Literal["before_response", "during_body"] = "before_response"


class EmptyBody(FaultKind):
    """Run the handler, keep its status and headers, send no body bytes."""

    failure_mode: ClassVar[str] = "FM-03"
    outcomes: ClassVar[frozenset[str]] = frozenset(())
    spoils: ClassVar[str | None] = "empty_answer"

    kind: Literal["empty_body"]


class EmptyList(FaultKind):
    """Empty the lists at these JSON paths (a page's ``items``: its ``total`` becomes 0)."""

    failure_mode: ClassVar[str] = "FM-03"
    outcomes: ClassVar[frozenset[str]] = frozenset(())
    spoils: ClassVar[str | None] = "empty_answer"

    kind: Literal["empty_list"]
    paths: tuple[str, ...] = Field(default=("items",), min_length=1)


class DropFields(FaultKind):
    """Remove the fields at these JSON paths, e.g. ``items[*].phone``, ``father.date_of_birth``."""

    failure_mode: ClassVar[str] = "FM-04"
    outcomes: ClassVar[frozenset[str]] = frozenset(())
    spoils: ClassVar[str | None] = "missing_fields"

    kind: Literal["drop_fields"]
    fields: tuple[str, ...] = Field(min_length=1)


class DanglingFile(FaultKind):
    """The file id is in the dossier, but its download answers 404 (per file id)."""

    failure_mode: ClassVar[str] = "FM-05"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_rejected"})

    kind: Literal["dangling_file"]


class StaleStatus(FaultKind):
    """Dossier statuses not reported (per dossier): hidden, or frozen early.

    Applies to records with a status history: civil-registry registrations and their status
    changes, driver-licence renewal dossiers, business-registration dossier details.
    """

    failure_mode: ClassVar[str] = "FM-06"
    outcomes: ClassVar[frozenset[str]] = frozenset(())
    spoils: ClassVar[str | None] = "stale_status"

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


class Maintenance(FaultKind):
    """503 ``provider_maintenance`` inside the windows, ``Retry-After`` to the window's end."""

    failure_mode: ClassVar[str] = "FM-11"
    outcomes: ClassVar[frozenset[str]] = frozenset({"provider_maintenance"})

    kind: Literal["maintenance"]
    windows: tuple[Window, ...] = Field(min_length=1)

    def window_at(self, now: datetime) -> Window | None:
        return next((window for window in self.windows if window.contains(now)), None)


class Overload(FaultKind):
    """A capacity: at most ``max_concurrent`` in service, ``max_queue`` waiting, then 503."""

    failure_mode: ClassVar[str] = "FM-02"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_overloaded", "upstream_timeout"})

    kind: Literal["overload"]
    max_concurrent: int = Field(ge=1)
    max_queue: int = Field(default=0, ge=0)
    queue_timeout_s: float = Field(default=5.0, gt=0, description="Longest wait for a slot.")
    service_time_ms: float = Field(
        default=0.0, ge=0, description="Extra time each request holds its slot (a slow backend)."
    )
    retry_after_s: int = Field(default=5, ge=0)


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
    | Overload,
    Field(discriminator="kind"),
]
KIND_CLASSES: dict[str, type[FaultKind]] = {
    get_args(cls.model_fields["kind"].annotation)[0]: cls  # kind: Literal["latency"]
    for cls in get_args(get_args(Fault)[0])
}
FAULT_KINDS = frozenset(KIND_CLASSES)
# Decided once per record (file id, registration id) instead of once per request.
KEYED_KINDS = frozenset({"dangling_file", "stale_status"})


class Rule(Spec):
    """One fault rule of a scenario."""

    id: str = Field(pattern=RULE_ID_PATTERN, description="Unique in its scenario.")
    description: str | None = None
    failure_mode: str | None = Field(
        default=None,
        pattern=r"^FM-\d{2}$",
        description="Failure mode of REPORTS.md, e.g. FM-01 (mock_services.failure_modes).",
    )
    source: tuple[str, ...] = Field(default=(), description="Report rows this rule reproduces.")
    match: Match
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    fault: Fault

    @field_validator("failure_mode")
    @classmethod
    def _in_the_catalogue(cls, mode: str | None) -> str | None:
        why = unknown_failure_mode(mode) if mode is not None else None
        if why is not None:
            raise ValueError(why)
        return mode

    @model_validator(mode="after")
    def _capacity_is_not_a_coin(self) -> Rule:
        if self.fault.kind == "overload" and self.probability != 1.0:
            raise ValueError("an overload rule is a capacity, not a draw: leave probability at 1")
        return self
