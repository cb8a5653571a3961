"""The page's flow runner: one provincial flow, run by the live view, paused before each hop.

The same flows and the same recording as the terminal demo (:mod:`ndxp_sim.demo`): a
:class:`~connectors.flows.FlowRun` records each hop from the SDK's events; here a
:class:`PausingListener` keeps those events for the page and, like ``demo --step``, waits
before each new hop until the trainer presses Next (repeated calls to the same service — a
status poll — are not paused). ``start`` and ``next`` return once the run is paused again or
finished, so each press of a button answers with the hop it caused.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import random
import uuid
from dataclasses import dataclass, field
from typing import Any

from connectors.client import NdxpClient
from connectors.errors import NdxpError
from connectors.events import ClientEvent
from connectors.flows import FLOWS, FlowResult, Step, record_event
from connectors.provinces import FLOW_NAMES, FlowName, OneStopSystem, find_system
from ndxp_config.settings import Settings
from ndxp_sim.demo import DEMO_OPTIONS, MEANINGS

MAX_RUNS = 16  # kept in memory; the oldest finished one goes first
WAIT_S = 90.0  # a press answers within this, paused or not (a hop with retries may be long)
_EVENT_FIELDS = tuple(f.name for f in dataclasses.fields(ClientEvent))


class RunnerError(ValueError):
    """A run cannot start or go on (unknown flow, province or run); the message says why."""


def _event(event: ClientEvent) -> dict[str, Any]:
    """The event's fields that apply to its kind (the others are None)."""
    values = {name: getattr(event, name) for name in _EVENT_FIELDS}
    return {name: value for name, value in values.items() if value is not None}


def _step(step: Step, events: list[dict[str, Any]], error: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "index": step.index,
        "service": step.service,
        "provider": step.provider,
        "what": step.what,
        "method": step.method,
        "path": step.path,
        "status": step.status,
        "latency_ms": step.latency_ms,
        "quota_remaining": step.quota_remaining,
        "exchange_ids": list(step.exchange_ids),
        "attempts": step.attempts,
        "retries": step.retries,
        "violations": list(step.violations),
        "note": step.note,
        "error": error,
        "events": events,
        "done": error is not None or step.status is not None or bool(step.note),
    }


class PausingListener:
    """A :class:`~connectors.flows.StepListener` that records for the page and pauses."""

    def __init__(self) -> None:
        self.steps: list[tuple[Step, list[dict[str, Any]], dict[str, Any] | None]] = []
        self.go = asyncio.Event()
        self.paused = asyncio.Event()  # set while waiting for Next (or when finished)
        self._previous: str | None = None

    async def step_started(self, step: Step) -> None:
        if self._previous is not None and step.service != self._previous:
            self.go.clear()
            self.paused.set()
            await self.go.wait()
            self.paused.clear()
        self._previous = step.service
        self.steps.append((step, [], None))

    def event(self, step: Step, event: ClientEvent) -> None:
        self.steps[-1][1].append(_event(event))

    def step_ended(self, step: Step, error: NdxpError | None) -> None:
        if error is None:
            return
        origin = "gateway" if error.from_gateway else "database"
        if error.code in ("circuit_open", "contract_violation"):
            origin = "sdk"
        described = {
            "code": error.code,
            "meaning": MEANINGS.get(error.code, error.detail or ""),
            "detail": error.detail,
            "origin": origin,
        }
        current, events, _ = self.steps[-1]
        self.steps[-1] = (current, events, described)


@dataclass(eq=False)
class FlowSession:
    """One run the page started."""

    id: str
    flow: FlowName
    system: OneStopSystem
    seed: int
    listener: PausingListener = field(default_factory=PausingListener)
    task: asyncio.Task[FlowResult] | None = None

    @property
    def finished(self) -> bool:
        return self.task is not None and self.task.done()

    def view(self) -> dict[str, Any]:
        result: dict[str, Any] | None = None
        if self.finished:
            assert self.task is not None
            if self.task.cancelled():
                result = {"outcome": "failed", "reason": "stopped"}
            elif self.task.exception() is not None:
                result = {"outcome": "failed", "reason": repr(self.task.exception())}
            else:
                done = self.task.result()
                result = {"outcome": done.outcome, "reason": done.reason}
        return {
            "id": self.id,
            "flow": self.flow,
            "province": self.system.province.code,
            "province_name": self.system.province.name,
            "consumer": self.system.consumer_id,
            "seed": self.seed,
            "paused": self.listener.paused.is_set() and not self.finished,
            "finished": self.finished,
            "result": result,
            "steps": [_step(s, e, err) for s, e, err in self.listener.steps],
        }


class FlowRunner:
    """Starts and steps the page's flow runs against the gateway."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sessions: dict[str, FlowSession] = {}

    async def start(self, flow: str, province: str, seed: int | None = None) -> dict[str, Any]:
        """Start a run; answers when it pauses before its second hop, or ends."""
        name = flow.replace("-", "_")
        if name not in FLOW_NAMES:
            raise RunnerError(f"unknown flow {flow!r}; choose one of {', '.join(FLOW_NAMES)}")
        try:
            system = find_system(self.settings, province)
        except LookupError as exc:
            raise RunnerError(str(exc)) from None
        self._evict()
        session = FlowSession(
            id=uuid.uuid4().hex[:12],
            flow=name,
            system=system,
            seed=random.SystemRandom().randrange(10**6) if seed is None else seed,
        )
        session.task = asyncio.create_task(self._run(session))
        self.sessions[session.id] = session
        return await self._settle(session)

    async def _run(self, session: FlowSession) -> FlowResult:
        system = session.system
        try:
            async with NdxpClient(
                self.settings.gateway.url,
                system.client_id,
                system.client_secret,
                on_event=record_event,
            ) as ndxp:
                return await FLOWS[session.flow](
                    ndxp,
                    system,
                    seed=session.seed,
                    options=DEMO_OPTIONS,
                    listener=session.listener,
                )
        finally:
            session.listener.paused.set()  # wakes whoever waits for the next pause

    async def next(self, run_id: str) -> dict[str, Any]:
        """Let a paused run make its next hop; answers when it pauses again, or ends."""
        session = self.get(run_id)
        if not session.finished and session.listener.paused.is_set():
            session.listener.paused.clear()
            session.listener.go.set()
        return await self._settle(session)

    async def view(self, run_id: str, wait: bool = False) -> dict[str, Any]:
        session = self.get(run_id)
        return await self._settle(session) if wait else session.view()

    def get(self, run_id: str) -> FlowSession:
        session = self.sessions.get(run_id)
        if session is None:
            raise RunnerError(f"no flow run {run_id!r}")
        return session

    async def _settle(self, session: FlowSession) -> dict[str, Any]:
        assert session.task is not None
        waiter = asyncio.ensure_future(session.listener.paused.wait())
        try:
            await asyncio.wait(
                {waiter, session.task}, timeout=WAIT_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        return session.view()

    def _evict(self) -> None:
        while len(self.sessions) >= MAX_RUNS:
            finished = [s for s in self.sessions.values() if s.finished]
            victim = finished[0] if finished else next(iter(self.sessions.values()))
            if victim.task is not None:
                victim.task.cancel()
            del self.sessions[victim.id]

    async def close(self) -> None:
        tasks = [s.task for s in self.sessions.values() if s.task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task


__all__ = ["FlowRunner", "FlowSession", "PausingListener", "RunnerError"]
