"""What a flow did, hop by hop: :class:`Step`, :class:`FlowResult` and the :class:`FlowRun` that
records them from the SDK's events.

One ``NdxpClient`` per one-stop system serves many flows at once (a province's connector keeps
one token and one breaker per provider), so its ``on_event`` hook cannot belong to any single
flow. :func:`record_event` is that hook: it hands each event to the flow *running in the
calling task*, found through a context variable that :meth:`FlowRun.call` sets around every
SDK call. The SDK reports events synchronously from the task that made the call, so
concurrent flows never see each other's retries.

Outcomes (one structlog line per run, ``flow_outcome``):

- ``completed`` — every hop answered and the data was whole;
- ``degraded`` — it finished, but with data missing: a contract violation the gateway flagged,
  a list that claims dossiers and holds none, a file that cannot be fetched, a status that
  does not move;
- ``failed`` — it could not finish: the SDK gave up after its retries, the breaker was open,
  the quota was spent, or NDXP refused the request.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar, cast

import structlog

from connectors.errors import CircuitOpen, ContractViolation, NdxpError, QuotaExceeded
from connectors.events import ClientEvent
from connectors.provinces import FlowName, OneStopSystem

Outcome = Literal["completed", "degraded", "failed"]
T = TypeVar("T")

_log = structlog.get_logger("ndxp.connectors.flows")
_current: ContextVar[FlowRun | None] = ContextVar("ndxp_flow_run", default=None)


@dataclass
class Step:
    """One hop: one SDK call (all its attempts) from the province through NDXP to a database."""

    index: int
    service: str  # "population.get_citizen"
    what: str  # what the province asked for, in words
    method: str | None = None
    path: str | None = None
    status: int | None = None
    exchange_id: str | None = None
    exchange_ids: list[str] = field(default_factory=list)
    latency_ms: float | None = None
    quota_remaining: int | None = None
    error_code: str | None = None
    error_detail: str | None = None
    attempts: int = 0
    retries: int = 0
    violations: tuple[str, ...] = ()
    note: str | None = None  # what the flow made of the answer

    @property
    def provider(self) -> str:
        return self.service.partition(".")[0]

    @property
    def operation(self) -> str:
        return self.service.partition(".")[2]

    @property
    def ok(self) -> bool:
        return self.error_code is None and self.status is not None and self.status < 400


@dataclass(frozen=True)
class FlowResult:
    """The outcome of one flow run, with every hop it made."""

    flow: FlowName
    province: str  # province code
    consumer: str
    outcome: Outcome
    reason: str
    steps: tuple[Step, ...]
    duration_ms: float

    @property
    def exchange_ids(self) -> list[str]:
        """Every gateway exchange id the run produced, in order (retries included)."""
        return [eid for step in self.steps for eid in step.exchange_ids]


class StepListener(Protocol):
    """What the trainer demo plugs into a run to narrate it as it happens."""

    async def step_started(self, step: Step) -> None: ...

    def event(self, step: Step, event: ClientEvent) -> None: ...

    def step_ended(self, step: Step, error: NdxpError | None) -> None: ...


class FlowAborted(Exception):
    """A flow stops without an SDK error (e.g. nothing it needs came back); outcome failed."""


class Incomplete(Exception):
    """A flow stops because an answer lacked what the next hop needs; outcome degraded."""


class Partial:
    """A contract-violating answer's JSON, read like the model it should have been.

    ``partial.items[0].dossier_id`` works on the decoded body; a missing field reads as None
    (so :func:`connectors.flows.common.field_of` treats models and partial answers alike).
    """

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = data

    @classmethod
    def wrap(cls, value: Any) -> Any:
        if isinstance(value, dict):
            return cls(value)
        if isinstance(value, list):
            return [cls.wrap(item) for item in value]
        return value

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return self.wrap(self._data.get(name))

    def __repr__(self) -> str:
        return f"Partial({self._data!r})"


class FlowRun:
    """Records the hops of one flow run and decides its outcome."""

    def __init__(
        self, flow: FlowName, system: OneStopSystem, listener: StepListener | None = None
    ) -> None:
        self.flow = flow
        self.system = system
        self.listener = listener
        self.steps: list[Step] = []
        self.problems: list[str] = []
        self.summary = ""
        self._step: Step | None = None
        self._started = time.perf_counter()

    async def call(
        self,
        service: str,
        what: str,
        send: Callable[[], Awaitable[T]],
        *,
        note: Callable[[T], str] | None = None,
    ) -> T:
        """Run one SDK call as a hop: its events are recorded on the hop, its errors raised.

        ``note`` says in words what the answer means (e.g. the status it shows); it is on the
        hop before the listener hears that the hop ended.
        """
        step = Step(index=len(self.steps) + 1, service=service, what=what)
        self.steps.append(step)
        if self.listener is not None:
            await self.listener.step_started(step)
        self._step = step
        token = _current.set(self)
        try:
            result = await send()
        except ContractViolation as exc:
            # The answer came (2xx) but breaks the contract: go on with what it holds.
            fields = tuple(getattr(exc, "fields", ()) or ()) or _fields_of(exc.detail)
            self._record_error(step, exc)
            self.violations(step, fields)
            if self.listener is not None:
                self.listener.step_ended(step, exc)
            body = getattr(exc, "body", None)
            if body is None:
                raise Incomplete("stopped: the answer holds no data to go on with") from exc
            return cast(T, Partial.wrap(body))
        except NdxpError as exc:
            self._record_error(step, exc)
            if self.listener is not None:
                self.listener.step_ended(step, exc)
            raise
        finally:
            _current.reset(token)
            self._step = None
        if note is not None:
            step.note = note(result)
        if self.listener is not None:
            self.listener.step_ended(step, None)
        return result

    @staticmethod
    def _record_error(step: Step, exc: NdxpError) -> None:
        step.error_code, step.error_detail = exc.code, exc.detail
        step.status = step.status if exc.status is None else exc.status
        if exc.exchange_id and exc.exchange_id not in step.exchange_ids:
            step.exchange_ids.append(exc.exchange_id)
            step.exchange_id = exc.exchange_id

    def on_event(self, event: ClientEvent) -> None:
        step = self._step
        if step is None:
            return
        if event.kind == "request":
            step.method, step.path = event.method, event.path
            step.attempts = max(step.attempts, event.attempt or 1)
        elif event.kind == "response":
            step.status, step.latency_ms = event.status, event.latency_ms
            step.quota_remaining = event.quota_remaining
            if event.exchange_id:
                step.exchange_id = event.exchange_id
                step.exchange_ids.append(event.exchange_id)
        elif event.kind == "retry":
            step.retries += 1
        if self.listener is not None:
            self.listener.event(step, event)

    def degrade(self, why: str, step: Step | None = None) -> None:
        """Note missing data: the run will end ``degraded`` (unless it fails)."""
        self.problems.append(why)
        target = step or (self.steps[-1] if self.steps else None)
        if target is not None:
            target.note = why if target.note is None else f"{target.note}; {why}"

    def violations(self, step: Step, fields: tuple[str, ...]) -> None:
        """The gateway flagged missing or broken fields on this hop's answer."""
        if fields:
            step.violations = fields
            self.degrade(f"{step.service}: contract violation ({', '.join(fields)})", step)

    def result(self, error: BaseException | None = None) -> FlowResult:
        """The outcome, logged as one structlog line."""
        outcome: Outcome
        if isinstance(error, Incomplete):
            outcome, reason = "degraded", "; ".join([*self.problems, str(error)])
        elif error is not None:
            outcome, reason = "failed", failure_reason(error, self.steps)
        elif self.problems:
            outcome, reason = "degraded", "; ".join(self.problems)
        else:
            outcome, reason = "completed", self.summary or "every hop answered in full"
        result = FlowResult(
            flow=self.flow,
            province=self.system.province.code,
            consumer=self.system.consumer_id,
            outcome=outcome,
            reason=reason,
            steps=tuple(self.steps),
            duration_ms=round((time.perf_counter() - self._started) * 1000, 1),
        )
        log = _log.warning if outcome == "failed" else _log.info
        log(
            "flow_outcome",
            flow=result.flow,
            province=result.province,
            consumer=result.consumer,
            outcome=outcome,
            reason=reason,
            hops=len(result.steps),
            retries=sum(s.retries for s in result.steps),
            exchange_ids=result.exchange_ids,
            duration_ms=result.duration_ms,
        )
        return result


def failure_reason(error: BaseException, steps: list[Step]) -> str:
    """Why a run failed, in the words a province's operator would use."""
    where = f"{steps[-1].service}: " if steps else ""
    if isinstance(error, CircuitOpen):
        return f"{where}breaker open for {error.provider} (not sent)"
    if isinstance(error, QuotaExceeded):
        when = f", resets at {error.reset_at:%Y-%m-%d %H:%M} UTC" if error.reset_at else ""
        kept = " (kept in reserve)" if error.reserve else ""
        return f"{where}quota exceeded{kept}{when}"
    if isinstance(error, NdxpError):
        tries = steps[-1].attempts if steps else 0
        after = f" after {tries} attempts" if tries > 1 else ""
        return f"{where}{error.code}{after}" + (f" — {error.detail}" if error.detail else "")
    return f"{where}{error}"


def _fields_of(detail: str | None) -> tuple[str, ...]:
    """The violated fields the SDK quotes at the end of its message (the gateway's header)."""
    if not detail or ": " not in detail:
        return ("(unknown field)",)
    tail = detail.rsplit(": ", 1)[1]
    return tuple(part.strip() for part in tail.split(",") if part.strip()) or ("(unknown field)",)


def record_event(event: ClientEvent) -> None:
    """The ``on_event`` hook for an ``NdxpClient`` shared by concurrent flows."""
    run = _current.get()
    if run is not None:
        run.on_event(event)


__all__ = [
    "FlowAborted",
    "FlowResult",
    "FlowRun",
    "Incomplete",
    "Outcome",
    "Partial",
    "Step",
    "StepListener",
    "failure_reason",
    "record_event",
]
