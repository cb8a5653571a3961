"""The fault engine (*bộ giả lập sự cố*): the one layer every operation of a mock passes through,
making the failures of the reports happen on demand, deterministically.

:func:`install_fault_engine` makes :meth:`FaultEngine.intercept` the app's interceptor (the
seam of :mod:`mock_services.service`) and adds ``GET/PUT/DELETE /_faults/scenario`` (admin
token, not in the OpenAPI document) to read, switch and clear the scenario without restart.

A request meets the rules of its provider in scenario-file order:

1. *match* — operation, calling consumer and province (``X-NDXP-Consumer``,
   ``X-NDXP-Province``, forwarded by the gateway) and local time of day;
2. *draw* — a rule in force (:meth:`~mock_services.fault_kinds.FaultKind.in_force`: a
   maintenance rule only inside its windows) draws from its own ``random.Random``, seeded by
   the scenario seed and the rule id, so the same seed and the same request sequence give the
   same faults whatever the other rules do. Keyed kinds draw per record instead (keyed by
   file / dossier id); undrawn kinds (a capacity) always apply;
3. the fired rules act by the phase their kind declares
   (:mod:`mock_services.fault_kinds`): *capacity*, then *delay* (added up), then the first
   *answer* in file order, the handler, the *body* faults on a 2xx, and the first
   *after_body*. The engine knows no kind by name.

The response names what was injected: ``X-NDXP-Injected-Fault: latency:slow-br,
drop_fields:coop-no-code`` (kind:rule id, comma-separated); the gateway logs and strips it.
A reset before the response cannot carry it; :meth:`FaultEngine.describe` counts it anyway.
Time comes from an injected ``clock`` and waits from an injected ``sleep``, so tests neither
read the wall clock nor sleep. ``time_scale`` (``NDXP_TIME_SCALE``) is the simulation's one
scale: every wait and every ``Retry-After`` is multiplied by it, and the fault clock runs
``1 / time_scale`` times as fast (:mod:`ndxp_config.simclock`), so a maintenance window's
Retry-After still ends with the window and a peak hour lasts as long as its waits say.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fastapi import FastAPI, Response

from contracts.headers import CONSUMER_HEADER, INJECTED_FAULT_HEADER, PROVINCE_HEADER
from mock_services.fault_admin import admin_router
from mock_services.fault_kinds import CALLER_GONE, Applying, Body
from mock_services.fault_network import Sleep, pause
from mock_services.fault_specs import Rule
from mock_services.people import keyed_int, keyed_random
from mock_services.scenarios import Scenario
from mock_services.service import CallNext, OperationContext
from ndxp_config.simclock import SimClock

Clock = Callable[[], datetime]


@dataclass
class _Live:
    """A rule of the active scenario with its own generator, state and counter."""

    rule: Rule
    rng: random.Random
    seed: int
    state: Any = None
    injected: int = 0

    def keyed(self, record_id: str) -> bool:
        """Per-record decision: the same file or dossier always gets the same answer."""
        draw = keyed_random(self.seed, "fault-record", self.rule.id, record_id).random()
        return draw < self.rule.probability

    def fires(self, now: datetime) -> bool:
        fault = self.rule.fault
        if not fault.in_force(now):
            return False
        if fault.keyed or not fault.drawn:
            return True
        return self.rng.random() < self.rule.probability


@dataclass(frozen=True)
class _Active:
    scenario: Scenario | None
    rules: tuple[_Live, ...] = field(default=())


class FaultEngine:
    """Applies the active scenario's rules of one provider to every request of its mock."""

    # Where this engine strikes: a mock is the database; a route's hop (hops/) is "lgsp" or
    # "vdxp" and takes the rules of that hop for calls to this provider's operations.
    hop: str = "database"

    def __init__(
        self,
        provider: str,
        scenario: Scenario | None = None,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        time_scale: float = 1.0,
    ) -> None:
        self.provider = provider
        self._clock = SimClock(time_scale, wall=clock)  # refuses a scale <= 0
        self._sleep = sleep
        self._scale = time_scale
        self._active = _Active(None)
        self.set_scenario(scenario)

    @property
    def scenario(self) -> Scenario | None:
        return self._active.scenario

    def set_scenario(self, scenario: Scenario | None) -> None:
        """Switch scenario (None: healthy); generators, state and counters start afresh.

        One assignment: a request in flight finishes under the scenario it started with.
        """
        rules: list[_Live] = []
        for rule in scenario.rules_for(self.provider, self.hop) if scenario else ():
            seed = scenario.seed if scenario else 0
            rng = random.Random(keyed_int(seed, "fault-rule", rule.id))
            rules.append(_Live(rule, rng, seed, rule.fault.new_state()))
        self._active = _Active(scenario, tuple(rules))

    def now(self) -> datetime:
        """The fault clock: simulated local time (:class:`~ndxp_config.simclock.SimClock`),
        running ``1 / time_scale`` times as fast as the injected clock."""
        return self._clock.now()

    def set_clock(self, at: datetime | None) -> None:
        """Make the fault clock read ``at`` now and run on from there (None: the real time).

        Time-of-day matches and maintenance windows read this clock, so a trainer or a test
        can show Tuesday 09:00's maintenance on a Saturday night; nothing else is shifted.
        """
        self._clock.set(at)

    def describe(self) -> dict[str, Any]:
        """The active scenario and how often each of this provider's rules injected its fault."""
        active = self._active
        rules: list[dict[str, Any]] = []
        for live in active.rules:
            described: dict[str, Any] = {
                "id": live.rule.id,
                "kind": live.rule.fault.kind,
                "failure_mode": live.rule.failure_mode,
                "injected": live.injected,
            }
            described.update(live.rule.fault.describe_state(live.state))
            rules.append(described)
        return {
            "provider": self.provider,
            "scenario": active.scenario.model_dump(mode="json") if active.scenario else None,
            "rules": rules,
            "clock": self.now().isoformat(timespec="seconds"),
            "clock_shifted": self._clock.shifted,
        }

    async def intercept(self, context: OperationContext, call_next: CallNext) -> Response:
        """The interceptor: see the module docstring for the order of the steps."""
        active = self._active  # one snapshot per request
        if not active.rules:
            return await call_next()
        headers = context.request.headers
        now = self.now()
        fired = [
            live
            for live in active.rules
            if live.rule.match.matches(
                context.operation_id,
                headers.get(CONSUMER_HEADER),
                headers.get(PROVINCE_HEADER),
                now,
            )
            and live.fires(now)
        ]
        if not fired:
            return await call_next()
        labels: list[str] = []
        response = await self._apply(fired, context, call_next, now, labels)
        if labels:
            response.headers[INJECTED_FAULT_HEADER] = ", ".join(labels)
        return response

    def _applying(
        self, live: _Live, context: OperationContext, now: datetime, labels: list[str]
    ) -> Applying:
        def mark() -> None:
            live.injected += 1
            labels.append(f"{live.rule.fault.kind}:{live.rule.id}")

        return Applying(
            request=context.request,
            operation_id=context.operation_id,
            now=now,
            rng=live.rng,
            keyed=live.keyed,
            state=live.state,
            mark=mark,
            scale=self._scale,
            sleep=self._sleep,
            labels=labels,
        )

    async def _apply(
        self,
        fired: list[_Live],
        context: OperationContext,
        call_next: CallNext,
        now: datetime,
        labels: list[str],
    ) -> Response:
        by_phase: dict[str, list[_Live]] = {}
        for live in fired:
            by_phase.setdefault(live.rule.fault.acts_in(), []).append(live)
        at = {id(live): self._applying(live, context, now, labels) for live in fired}
        async with AsyncExitStack() as held:
            for live in by_phase.get("capacity", ()):
                answered = await held.enter_async_context(live.rule.fault.hold(at[id(live)]))
                if answered is not None:
                    return answered
            delay = 0.0
            for live in by_phase.get("delay", ()):
                delay += live.rule.fault.delay_s(live.rng)
                at[id(live)].mark()
            if await pause(delay * self._scale, context.request, self._sleep):
                return Response(status_code=CALLER_GONE)
            first = next(iter(by_phase.get("answer", ())), None)
            if first is not None:
                answered = await first.rule.fault.answer(at[id(first)])
                if answered is not None:
                    return answered
            response = self._body(by_phase.get("body", []), at, await call_next())
            last = next(iter(by_phase.get("after_body", ())), None)
            if last is None:
                return response
            at[id(last)].mark()
            response.headers[INJECTED_FAULT_HEADER] = ", ".join(labels)
            return last.rule.fault.after(at[id(last)], response)
        raise AssertionError("unreachable")  # pragma: no cover  # the with block returns

    @staticmethod
    def _body(rules: list[_Live], at: dict[int, Applying], response: Response) -> Response:
        if not rules or not 200 <= response.status_code < 300:
            return response
        body = Body(response)
        for live in sorted(rules, key=lambda live: live.rule.fault.body_order):
            applying = at[id(live)]
            if live.rule.fault.alter(applying, body):
                applying.mark()
                body.changed = True
            if body.final:
                break
        return body.rendered()


def install_fault_engine(app: FastAPI, engine: FaultEngine) -> None:
    """Make ``engine`` the interceptor of ``app`` and add its ``/_faults/scenario`` routes."""
    installed = getattr(app.state, "fault_engine", None) is not None
    app.state.fault_engine = engine
    app.state.interceptor = engine.intercept
    if not installed:  # a second engine replaces the first; the routes are there already
        app.include_router(admin_router)


__all__ = [
    "INJECTED_FAULT_HEADER",
    "FaultEngine",
    "install_fault_engine",
]
