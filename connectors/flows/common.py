"""What the four flows share: their options (clock, sleep, windows, polling), the citizens a
one-stop system serves, and :func:`execute`, which turns a flow body into a :class:`FlowResult`.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

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


FlowBody = Callable[
    ["NdxpClient", OneStopSystem, random.Random, FlowOptions, FlowRun], Awaitable[None]
]


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
    try:
        await body(ndxp, system, rng or random.Random(seed), options or FlowOptions(), run)
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


__all__ = [
    "Clock",
    "FlowBody",
    "FlowFunction",
    "FlowOptions",
    "Sleep",
    "draw_citizen",
    "execute",
    "field_of",
    "mask",
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
