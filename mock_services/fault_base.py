"""What every fault kind shares (:mod:`mock_services.fault_kinds` documents the phases): the
request being applied to (:class:`Applying`), the 2xx answer on its way out (:class:`Body`),
the base class :class:`FaultKind` and its hooks. Kept apart so that a family of kinds can live
in its own module (:mod:`mock_services.fault_drift`) and still join :data:`Fault`."""

from __future__ import annotations

import json
import random
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Literal

from starlette.requests import Request
from starlette.responses import Response

from contracts.catalogue import Operation
from contracts.common import Problem
from mock_services.fault_bodies import check_path
from mock_services.fault_network import Sleep, pause
from mock_services.fault_values import Spec
from mock_services.service import problem_response

Phase = Literal["capacity", "delay", "answer", "body", "after_body", "gateway"]
Loc = tuple[str | int, ...]
# The caller hung up during an injected wait: nobody reads this (the server discards it).
CALLER_GONE = 499


@dataclass
class Applying:
    """What a fault needs to act on one request: the request, the fault clock's time, waits
    (scaled, cut short when the caller hangs up), the rule's generator and per-record draw,
    its state, and ``mark`` to say it injected something (counted and named in the header)."""

    request: Request
    operation_id: str
    now: datetime
    rng: random.Random
    keyed: Callable[[str], bool]
    state: Any
    mark: Callable[[], None]
    scale: float
    sleep: Sleep
    labels: list[str] = field(default_factory=list)

    async def wait(self, seconds: float) -> bool:
        """Wait ``seconds`` of simulated time; True if the caller hung up meanwhile."""
        return await pause(seconds * self.scale, self.request, self.sleep)


class Body:
    """A 2xx answer on its way out, for the ``body`` phase: its JSON is decoded once, lazily."""

    def __init__(self, response: Response) -> None:
        self.response = response
        self.final = False  # replaced: nothing is left for the other body faults
        self.changed = False
        self._data: Any = None
        self._decoded = False

    @property
    def headers(self) -> dict[str, str]:
        return {k: v for k, v in self.response.headers.items() if k.lower() != "content-length"}

    def data(self) -> Any:
        """The decoded JSON (None if the answer is not JSON, e.g. a file)."""
        if not self._decoded:
            self._decoded = True
            try:
                self._data = json.loads(bytes(self.response.body))
            except ValueError:
                self._data = None
        return self._data

    def replace(self, response: Response) -> None:
        self.response, self.final = response, True

    def rendered(self) -> Response:
        if not self.changed or self.final:
            return self.response
        # The same rendering as FastAPI's JSONResponse, so an altered body looks like any other.
        content = json.dumps(
            self._data, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()
        return Response(content, self.response.status_code, self.headers)


def problem(
    status: int, code: str, title: str, detail: str, *, retry_after_s: int | None = None
) -> Response:
    headers = {"Retry-After": str(retry_after_s)} if retry_after_s is not None else None
    return problem_response(Problem(title=title, status=status, code=code, detail=detail), headers)


class FaultKind(Spec):
    """A kind of fault (see the module docstring); subclasses override what they use."""

    PHASE: ClassVar[Phase]
    failure_mode: ClassVar[str] = ""
    outcomes: ClassVar[frozenset[str]] = frozenset()
    spoils: ClassVar[str | None] = None
    keyed: ClassVar[bool] = False  # drawn once per record, not once per request
    drawn: ClassVar[bool] = True  # False: applies whenever it matches (a capacity)
    body_order: ClassVar[int] = 2
    sees: ClassVar[str] = ""  # what the province sees, for the reference

    def acts_in(self) -> Phase:
        """The phase this fault acts in (a class's, unless its parameters decide)."""
        return self.PHASE

    # -- the engine's hooks ---------------------------------------------------------------

    def in_force(self, now: datetime) -> bool:
        """Whether the rule can fire at ``now`` (before any draw)."""
        return True

    def new_state(self) -> Any:
        """Per-rule state, made afresh at each scenario switch."""
        return None

    def describe_state(self, state: Any) -> dict[str, Any]:
        return {}

    @asynccontextmanager
    async def hold(self, at: Applying) -> AsyncIterator[Response | None]:
        """``capacity``: yield a response to answer at once, or None to go on, then release."""
        yield None

    def delay_s(self, rng: random.Random) -> float:
        """``delay``: seconds of simulated time to wait."""
        return 0.0

    async def answer(self, at: Applying) -> Response | None:
        """``answer``: a response instead of the handler's, or None to run the handler."""
        return None

    def alter(self, at: Applying, body: Body) -> bool:
        """``body``: change the answer; True if something changed (the rule then counts)."""
        return False

    def after(self, at: Applying, response: Response) -> Response:
        """``after_body``: the answer, sent this way (headers already name the faults)."""
        return response

    # -- for the scenario checks and the report -------------------------------------------

    needs_operations: ClassVar[bool] = False

    def operation_issues(self, op: Operation) -> Iterable[tuple[Loc, str]]:
        """Problems of this fault on ``op`` (locations relative to the rule; ``()``: the
        operation's own entry)."""
        return ()

    def explains(self, violations: Iterable[str]) -> tuple[str, ...]:
        """The contract violations this fault causes (a report attributes them to its rule)."""
        return ()

    def summary(self) -> str:
        """What a province sees, with this rule's parameters, in a few words."""
        return self.sees


def path_issues(
    op: Operation, key: str, paths: tuple[str, ...], *, want_list: bool
) -> Iterable[tuple[Loc, str]]:
    model = op.load_response_model()
    if model is None:
        yield (), f"{op.operation_id} answers a file, not JSON"
        return
    for index, path in enumerate(paths):
        why = check_path(model, path, want_list=want_list)
        if why is not None:
            yield ("fault", key, index), f"{op.operation_id}: {why}"
