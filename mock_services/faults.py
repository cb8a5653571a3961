"""The fault engine (*bộ giả lập sự cố*): the one layer every operation of a mock passes through,
making the failures of the reports happen on demand, deterministically.

:func:`install_fault_engine` makes :meth:`FaultEngine.intercept` the app's interceptor (the
seam of :mod:`mock_services.service`) and adds ``GET/PUT/DELETE /_faults/scenario`` (admin
token, not in the OpenAPI document) to read, switch and clear the scenario without restart.

A request meets the rules of its provider in scenario-file order:

1. *match* — operation, calling consumer and province (``X-NDXP-Consumer``,
   ``X-NDXP-Province``, forwarded by the gateway) and local time of day;
2. *draw* — each matching rule draws from its own ``random.Random``, seeded by the scenario
   seed and the rule id, so the same seed and the same request sequence give the same faults
   whatever the other rules do. ``dangling_file`` and ``stale_status`` draw per record
   instead (keyed by file / registration id); ``overload`` always applies; ``maintenance``
   only inside its windows;
3. *capacity* — an ``overload`` rule admits, queues or sheds (503 ``provider_overloaded``);
4. *latency* — the delays of the fired latency rules, added;
5. *short-circuit* — the first fired ``hang`` (wait, then go on), ``http_error``,
   ``unavailable``, ``maintenance`` or ``reset`` before the response (answer at once, the
   handler never runs);
6. the handler, then the *body* faults on a 2xx: ``dangling_file`` (404 instead), else
   ``empty_body`` (which leaves nothing for the others), else ``empty_list``,
   ``drop_fields`` and ``stale_status`` in file order; then a ``reset`` during the body.

The response names what was injected: ``X-NDXP-Injected-Fault: latency:slow-br,
drop_fields:coop-no-code`` (kind:rule id, comma-separated); the gateway logs and strips it.
A reset before the response cannot carry it; :meth:`FaultEngine.describe` counts it anyway.
Time comes from an injected ``clock`` and waits from an injected ``sleep``, so tests neither
read the wall clock nor sleep; ``time_scale`` shrinks every wait for fast end-to-end runs.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from fastapi import FastAPI, Request, Response

from contracts.common import Problem
from mock_services.dossiers import VIETNAM_TZ
from mock_services.fault_admin import admin_router
from mock_services.fault_bodies import (
    Staleness,
    drop_fields,
    empty_lists,
    stale_page,
    stale_record,
    stale_status_changes,
)
from mock_services.fault_network import ResetResponse, Sleep, pause, server_transport
from mock_services.fault_specs import KEYED_KINDS, Hang, Latency, Overload, Reset, Rule
from mock_services.people import keyed_int, keyed_random
from mock_services.scenarios import Scenario
from mock_services.service import CallNext, OperationContext, problem_response

INJECTED_FAULT_HEADER = "X-NDXP-Injected-Fault"
CONSUMER_HEADER = "x-ndxp-consumer"
PROVINCE_HEADER = "x-ndxp-province"
Clock = Callable[[], datetime]
_SHORT_CIRCUIT = ("hang", "http_error", "unavailable", "maintenance", "reset")
_BODY = ("empty_list", "drop_fields", "stale_status", "dangling_file", "empty_body")
# The caller hung up during an injected wait: nobody reads this (the server discards it).
_CALLER_GONE = 499


class _Capacity:
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


@dataclass
class _Live:
    """A rule of the active scenario with its own generator and counters."""

    rule: Rule
    rng: random.Random
    seed: int
    capacity: _Capacity | None = None
    injected: int = 0

    def keyed(self, record_id: str) -> bool:
        """Per-record decision: the same file or registration always gets the same answer."""
        draw = keyed_random(self.seed, "fault-record", self.rule.id, record_id).random()
        return draw < self.rule.probability


@dataclass(frozen=True)
class _Active:
    scenario: Scenario | None
    rules: tuple[_Live, ...] = field(default=())


class FaultEngine:
    """Applies the active scenario's rules of one provider to every request of its mock."""

    def __init__(
        self,
        provider: str,
        scenario: Scenario | None = None,
        *,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        time_scale: float = 1.0,
    ) -> None:
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.provider = provider
        self._clock = clock or (lambda: datetime.now(VIETNAM_TZ))
        self._offset = timedelta(0)
        self._sleep = sleep
        self._scale = time_scale
        self._active = _Active(None)
        self.set_scenario(scenario)

    @property
    def scenario(self) -> Scenario | None:
        return self._active.scenario

    def set_scenario(self, scenario: Scenario | None) -> None:
        """Switch scenario (None: healthy); generators and counters start afresh.

        One assignment: a request in flight finishes under the scenario it started with.
        """
        rules: list[_Live] = []
        for rule in scenario.rules_for(self.provider) if scenario else ():
            seed = scenario.seed if scenario else 0
            live = _Live(rule, random.Random(keyed_int(seed, "fault-rule", rule.id)), seed)
            if rule.fault.kind == "overload":
                live.capacity = _Capacity(rule.fault.max_concurrent, rule.fault.max_queue)
            rules.append(live)
        self._active = _Active(scenario, tuple(rules))

    def now(self) -> datetime:
        """The fault clock: the injected clock, shifted by :meth:`set_clock`."""
        return (self._clock() + self._offset).astimezone(VIETNAM_TZ)

    def set_clock(self, at: datetime | None) -> None:
        """Make the fault clock read ``at`` now and run on from there (None: the real time).

        Time-of-day matches and maintenance windows read this clock, so a trainer or a test
        can show Tuesday 09:00's maintenance on a Saturday night; nothing else is shifted.
        """
        self._offset = timedelta(0) if at is None else at - self._clock()

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
            if live.capacity is not None:  # an overload rule: how busy it is right now
                described["in_service"] = live.capacity.active
                described["queued"] = len(live.capacity.waiting)
            rules.append(described)
        return {
            "provider": self.provider,
            "scenario": active.scenario.model_dump(mode="json") if active.scenario else None,
            "rules": rules,
            "clock": self.now().isoformat(timespec="seconds"),
            "clock_shifted": self._offset != timedelta(0),
        }

    async def intercept(self, context: OperationContext, call_next: CallNext) -> Response:
        """The interceptor: see the module docstring for the order of the steps."""
        active = self._active  # one snapshot per request
        if not active.rules:
            return await call_next()
        headers = context.request.headers
        now = self.now()
        matching = [
            live
            for live in active.rules
            if live.rule.match.matches(
                context.operation_id,
                headers.get(CONSUMER_HEADER),
                headers.get(PROVINCE_HEADER),
                now,
            )
        ]
        fired = [live for live in matching if self._fires(live, now)]
        if not fired:
            return await call_next()
        labels: list[str] = []
        response = await self._with_capacity(fired, context, call_next, now, labels)
        if labels:
            response.headers[INJECTED_FAULT_HEADER] = ", ".join(labels)
        return response

    @staticmethod
    def _fires(live: _Live, now: datetime) -> bool:
        fault = live.rule.fault
        if fault.kind in KEYED_KINDS or fault.kind == "overload":
            return True
        if fault.kind == "maintenance" and fault.window_at(now) is None:
            return False
        return live.rng.random() < live.rule.probability

    @staticmethod
    def _mark(live: _Live, labels: list[str]) -> None:
        live.injected += 1
        labels.append(f"{live.rule.fault.kind}:{live.rule.id}")

    async def _with_capacity(
        self,
        fired: list[_Live],
        context: OperationContext,
        call_next: CallNext,
        now: datetime,
        labels: list[str],
    ) -> Response:
        live = next((live for live in fired if isinstance(live.rule.fault, Overload)), None)
        if live is None or live.capacity is None:
            return await self._serve(fired, context, call_next, now, labels)
        fault = live.rule.fault
        assert isinstance(fault, Overload)
        entry = await live.capacity.acquire(fault.queue_timeout_s * self._scale)
        if entry == "shed":
            self._mark(live, labels)
            return _problem(
                503,
                "provider_overloaded",
                "The national database is overloaded (quá tải)",
                "Too many requests in service and in the queue; retry later.",
                retry_after_s=fault.retry_after_s,
            )
        if entry == "queued":
            self._mark(live, labels)
        try:
            service_s = fault.service_time_ms / 1000 * self._scale
            if await pause(service_s, context.request, self._sleep):
                return Response(status_code=_CALLER_GONE)
            return await self._serve(fired, context, call_next, now, labels)
        finally:
            live.capacity.release()

    async def _serve(
        self,
        fired: list[_Live],
        context: OperationContext,
        call_next: CallNext,
        now: datetime,
        labels: list[str],
    ) -> Response:
        request = context.request
        delay = 0.0
        for live in fired:
            if isinstance(live.rule.fault, Latency):
                delay += live.rule.fault.sample_s(live.rng)
                self._mark(live, labels)
        if await pause(delay * self._scale, request, self._sleep):
            return Response(status_code=_CALLER_GONE)
        first = next((live for live in fired if live.rule.fault.kind in _SHORT_CIRCUIT), None)
        reset_during = None
        if first is not None:
            fault = first.rule.fault
            if isinstance(fault, Reset) and fault.phase == "during_body":
                reset_during = first  # after the handler: it needs the body
            elif isinstance(fault, Hang):
                self._mark(first, labels)
                if await pause(fault.duration_s * self._scale, request, self._sleep):
                    return Response(status_code=_CALLER_GONE)
            else:
                self._mark(first, labels)
                return self._short_circuit(first, request, now)
        response = self._body_faults(fired, context, await call_next(), labels)
        if reset_during is None:
            return response
        self._mark(reset_during, labels)
        headers = dict(response.headers)
        headers[INJECTED_FAULT_HEADER] = ", ".join(labels)
        return ResetResponse(
            "during_body",
            server_transport(request),
            content=bytes(response.body),
            status_code=response.status_code,
            headers=headers,
        )

    def _short_circuit(self, live: _Live, request: Request, now: datetime) -> Response:
        fault = live.rule.fault
        if fault.kind == "http_error":
            return _problem(
                fault.status, fault.code, fault.title, "The national database failed to answer."
            )
        if fault.kind == "unavailable":
            return _problem(
                503,
                fault.code,
                "The national database is unavailable",
                "The service is temporarily unavailable; retry after the indicated delay.",
                retry_after_s=fault.retry_after_s,
            )
        if fault.kind == "maintenance":
            window = fault.window_at(now)
            assert window is not None  # _fires checked it
            end = window.ends_at(now)
            return _problem(
                503,
                "provider_maintenance",
                "The national database is under maintenance (bảo trì)",
                f"Scheduled maintenance until {end:%H:%M} local time (Asia/Ho_Chi_Minh).",
                retry_after_s=max(1, math.ceil((end - now).total_seconds())),
            )
        return ResetResponse("before_response", server_transport(request))

    def _body_faults(
        self, fired: list[_Live], context: OperationContext, response: Response, labels: list[str]
    ) -> Response:
        rules = [live for live in fired if live.rule.fault.kind in _BODY]
        if not rules or not 200 <= response.status_code < 300:
            return response
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
        for live in rules:
            if live.rule.fault.kind == "dangling_file":
                file_id = str(context.request.path_params.get("file_id"))
                if live.keyed(file_id):
                    self._mark(live, labels)
                    detail = f"No dossier file has id {file_id}."
                    return _problem(404, "not_found", "Not found", detail)
        blank = next((live for live in rules if live.rule.fault.kind == "empty_body"), None)
        if blank is not None:  # nothing is left for the other body faults to change
            self._mark(blank, labels)
            return Response(b"", response.status_code, headers)
        try:
            data = json.loads(bytes(response.body))
        except ValueError:
            return response  # not JSON (a file): no field to drop, no list to empty
        changed = False
        for live in rules:
            fault = live.rule.fault
            hit = False
            if fault.kind == "empty_list":
                hit = empty_lists(data, fault.paths) > 0
            elif fault.kind == "drop_fields":
                hit = drop_fields(data, fault.fields) > 0
            elif fault.kind == "stale_status":
                staleness = Staleness(frozenset(fault.hidden_statuses), fault.frozen_at, live.keyed)
                hit = _stale(data, staleness)
            if hit:
                self._mark(live, labels)
                changed = True
        return Response(_json_bytes(data), response.status_code, headers) if changed else response


def _stale(data: Any, staleness: Staleness) -> bool:
    """A record with a history, a page of them, or a page of status changes."""
    if not isinstance(data, dict):
        return False
    if "items" not in data:
        return stale_record(data, staleness)
    items = data.get("items") or []
    if items and isinstance(items[0], dict) and "history" in items[0]:
        return stale_page(data, staleness)
    return stale_status_changes(data, staleness)


def _json_bytes(data: Any) -> bytes:
    # The same rendering as FastAPI's JSONResponse, so an altered body looks like any other.
    return json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":")).encode()


def _problem(
    status: int, code: str, title: str, detail: str, *, retry_after_s: int | None = None
) -> Response:
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    return problem_response(Problem(title=title, status=status, code=code, detail=detail), headers)


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
