"""What the flows share: their options (clock, sleep, windows, polling), the citizens a
one-stop system serves and their lookup (:func:`lookup_citizen`), following a dossier's status
paced by its own processing time (:func:`follow_status`), and :func:`execute`, which turns a
flow body into a :class:`FlowResult`.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from pydantic import ValidationError

from connectors.errors import NdxpError
from connectors.flows.recording import FlowAborted, FlowResult, FlowRun, Incomplete, StepListener
from connectors.provinces import FlowName, OneStopSystem
from contracts.provinces import PROVINCES
from mock_services.dossiers import VIETNAM_TZ
from mock_services.people import random_citizen_id

if TYPE_CHECKING:
    from connectors.client import NdxpClient

_TOTAL_POPULATION_K = sum(p.population_k for p in PROVINCES)
Sleep = Callable[[float], Awaitable[None]]
Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(VIETNAM_TZ)


@dataclass(frozen=True)
class FlowOptions:
    """How a flow looks back, pages and polls; the clock and sleep are injectable for tests.

    - ``window_days``: a sync looks at dossiers whose processing ended in the last N days
      (a week, so even Bắc Kạn's few renewals a day show up).
    - ``page_size``: dossiers a business sync fetches in one run (each with every file).
    - Birth-registration status sync polls every 1/48 of the registration's own processing
      time (``due_at - received_at``: ten minutes of a working day), clamped to
      ``[min_poll_s, max_poll_s]``, for at most ``max_wait_s`` of wall time and
      ``max_polls`` polls — never blindly forever.
    """

    window_days: int = 7
    page_size: int = 3
    min_poll_s: float = 0.05
    max_poll_s: float = 30.0
    max_wait_s: float = 600.0
    max_polls: int = 120
    clock: Clock = field(default=_now)
    sleep: Sleep = field(default=asyncio.sleep)

    def window(self) -> tuple[datetime, datetime]:
        """``[now - window_days, now)`` in Vietnam time."""
        end = self.clock()
        return end - timedelta(days=self.window_days), end


class FlowContext(NamedTuple):
    """What :func:`execute` hands a flow body: the client, the one-stop system it acts for, its
    random source, options, and the run that records its steps."""

    ndxp: NdxpClient
    system: OneStopSystem
    rng: random.Random
    options: FlowOptions
    run: FlowRun


FlowBody = Callable[[FlowContext], Awaitable[None]]


async def execute(
    flow: FlowName,
    body: FlowBody,
    ndxp: NdxpClient,
    system: OneStopSystem,
    *,
    rng: random.Random | None = None,
    seed: int = 0,
    options: FlowOptions | None = None,
    listener: StepListener | None = None,
) -> FlowResult:
    """Run one flow body to its :class:`FlowResult`; SDK errors become a ``failed`` outcome.

    A flow goes on with what a contract-violating answer holds (the SDK's typed method raised
    :class:`~connectors.errors.ContractViolation`; :meth:`FlowRun.call` hands the flow the raw
    answer). When a drifted value of it (a date reformatted, a type changed: FM-08) cannot
    make the next request's model, the run stops ``degraded`` naming the fields, whatever the
    flow; the same error with no violation recorded is a bug of the flow and is raised.
    """
    run = FlowRun(flow, system, listener)
    context = FlowContext(ndxp, system, rng or random.Random(seed), options or FlowOptions(), run)
    try:
        await body(context)
    except (NdxpError, FlowAborted, Incomplete) as exc:
        return run.result(exc)
    except ValidationError as exc:
        if not any(step.violations for step in run.steps):
            raise
        return run.result(
            Incomplete(f"stopped: the next request cannot be built from that answer ({_locs(exc)})")
        )
    return run.result()


def _locs(exc: ValidationError) -> str:
    """``CitizenRef.date_of_birth`` for each field a model refused."""
    return ", ".join(
        ".".join([exc.title, *(str(part) for part in error["loc"])]) for error in exc.errors()
    )


class FlowFunction(Protocol):
    """The signature every flow shares (built by :func:`flow`)."""

    async def __call__(
        self,
        ndxp: NdxpClient,
        system: OneStopSystem,
        *,
        rng: random.Random | None = None,
        seed: int = 0,
        options: FlowOptions | None = None,
        listener: StepListener | None = None,
    ) -> FlowResult: ...


def draw_citizen(
    rng: random.Random,
    system: OneStopSystem,
    *,
    gender: Any = None,
    born: tuple[int, int] = (1950, 2004),
) -> str:
    """A citizen of the province who comes to the one-stop counter (an existing personal id)."""
    return random_citizen_id(
        rng, province_code=system.province.code, gender=gender, born_between=born
    )


def expected_in_window(daily_national: float, system: OneStopSystem, days: int) -> float:
    """How many dossiers a province should see in ``days``: its population share of the
    national volume per working day, five working days a week.

    A province knows roughly how many dossiers it handles; an empty window where dozens were
    due is the reports' "API returns no data" (FM-03), not a quiet week.
    """
    share = system.province.population_k / _TOTAL_POPULATION_K
    return daily_national * share * days * 5 / 7


EMPTY_WINDOW_THRESHOLD = 5.0  # fewer expected: an empty window may just be a quiet one


def field_of(model: object, name: str) -> Any:
    """A field of an answer that may have come without it (a flagged contract violation)."""
    return getattr(model, name, None)


def when(value: Any) -> datetime | None:
    """A timestamp of an answer, whether a model's datetime or a partial answer's string."""
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return value if isinstance(value, datetime) else None


def mask(personal_id: str) -> str:
    """``038090001234`` → ``038******234``: narration and logs never show a whole id."""
    return f"{personal_id[:3]}{'*' * (len(personal_id) - 6)}{personal_id[-3:]}"


async def lookup_citizen(ndxp: NdxpClient, run: FlowRun, personal_id: str, why: str) -> Any:
    """``population.get_citizen`` as a recorded step narrated ``{why} {masked id}``."""
    return await run.call(
        "population.get_citizen",
        f"{why} {mask(personal_id)}",
        lambda: ndxp.population.get_citizen(personal_id),
    )


class Followed(NamedTuple):
    """Where :func:`follow_status` left a dossier, and the pacing it read from it."""

    status: Any
    received_at: datetime
    due_at: datetime
    span: float  # seconds from received_at to due_at (the processing time)
    polls: int  # the polling budget


class StatusPacing(NamedTuple):
    """How a flow follows a dossier: until a ``settled`` status, polling every
    ``1 / polls_per_span`` of its processing time, giving up after ``settle_spans`` of them."""

    settled: frozenset[str]
    polls_per_span: int
    settle_spans: float


async def follow_status(
    first: Any,
    ident: str,
    pacing: StatusPacing,
    options: FlowOptions,
    run: FlowRun,
    step: tuple[str, str, Callable[[], Awaitable[Any]]],
) -> Followed:
    """Poll a dossier's status until it is settled or the budget is spent.

    Every ``1 / polls_per_span`` of its processing time (``due_at - received_at``), clamped to
    ``[min_poll_s, max_poll_s]``, for at most ``settle_spans`` processing times, ``max_wait_s``
    and ``max_polls``. ``step`` is the recorded call: (service, narration, fetch).
    """
    settled, polls_per_span, settle_spans = pacing
    received_at, due_at = when(field_of(first, "received_at")), when(field_of(first, "due_at"))
    if received_at is None or due_at is None:
        raise Incomplete(f"{ident}: no received_at / due_at to pace the status sync")
    span = max((due_at - received_at).total_seconds(), 0.001)
    interval = min(max(span / polls_per_span, options.min_poll_s), options.max_poll_s)
    budget = min(options.max_wait_s, settle_spans * span)
    polls = min(options.max_polls, max(1, math.ceil(budget / interval)))
    service, narration, fetch = step
    current = first
    for _ in range(polls):
        if field_of(current, "status") in settled:
            break
        await options.sleep(interval)
        current = await run.call(service, narration, fetch, note=_status_note)
    return Followed(current, received_at, due_at, span, polls)


def _status_note(answer: Any) -> str:
    return f"{field_of(answer, 'status')} ({field_of(answer, 'status_code')})"


def rejection_reason(status: Any) -> str:
    """The note of a rejected dossier's last history entry, or ``no reason``."""
    history = field_of(status, "history") or []
    return (field_of(history[-1], "note") if history else None) or "no reason"


__all__ = [
    "Clock",
    "FlowBody",
    "FlowContext",
    "FlowFunction",
    "FlowOptions",
    "Followed",
    "Sleep",
    "StatusPacing",
    "draw_citizen",
    "execute",
    "field_of",
    "follow_status",
    "lookup_citizen",
    "mask",
    "rejection_reason",
    "when",
]


def flow(name: FlowName, body: FlowBody, doc: str) -> FlowFunction:
    """The public function of a flow: ``body`` run by :func:`execute` under ``name``."""

    async def run_flow(
        ndxp: NdxpClient,
        system: OneStopSystem,
        *,
        rng: random.Random | None = None,
        seed: int = 0,
        options: FlowOptions | None = None,
        listener: StepListener | None = None,
    ) -> FlowResult:
        return await execute(
            name, body, ndxp, system, rng=rng, seed=seed, options=options, listener=listener
        )

    run_flow.__name__ = run_flow.__qualname__ = name
    run_flow.__doc__ = doc
    return run_flow
