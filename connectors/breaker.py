"""A circuit breaker per national database (*ngắt mạch*): stop calling one that keeps failing.

After ``failures`` consecutive retryable failures (timeouts, resets, 503s ...) the breaker
*opens*: calls fail at once with :class:`~connectors.errors.CircuitOpen` instead of waiting
35 s each on a database that is down — the pile-up the 2024 reports describe. After
``reset_s`` it lets exactly one probe through (*half-open*); the probe's outcome closes or
re-opens it. Any answer that is not a retryable failure (a 2xx, or a 4xx: the database is up
and answering) counts as a success.

The states and moves are a table, :data:`TRANSITIONS`, so that what the breaker does can be
read (and tested) in one place. The clock is injected: tests move time, they do not sleep.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from connectors.errors import CircuitOpen
from connectors.events import BreakerState

BreakerEvent = Literal["success", "failure", "threshold", "cooled_down"]

#: (state, event) -> next state. ``threshold``: the failure that reaches the limit;
#: ``cooled_down``: a call arrives ``reset_s`` after opening (it becomes the probe).
TRANSITIONS: dict[tuple[BreakerState, BreakerEvent], BreakerState] = {
    ("closed", "success"): "closed",
    ("closed", "failure"): "closed",
    ("closed", "threshold"): "open",
    ("open", "cooled_down"): "half_open",
    # Calls admitted before the breaker opened may still finish: they change nothing, the
    # probe decides.
    ("open", "success"): "open",
    ("open", "failure"): "open",
    ("open", "threshold"): "open",
    ("half_open", "success"): "closed",
    ("half_open", "failure"): "open",
    ("half_open", "threshold"): "open",
}


@dataclass(frozen=True, slots=True)
class BreakerPolicy:
    """When to open (``failures`` in a row) and how long to stay open (``reset_s``)."""

    failures: int = 5
    reset_s: float = 30.0

    def __post_init__(self) -> None:
        if self.failures < 1:
            raise ValueError("breaker failures must be >= 1")
        if self.reset_s < 0:
            raise ValueError("breaker reset_s must be >= 0")


class CircuitBreaker:
    """The breaker of one provider; ``on_change(old, new)`` hears every change of state."""

    def __init__(
        self,
        provider: str,
        policy: BreakerPolicy,
        *,
        clock: Callable[[], float],
        on_change: Callable[[BreakerState, BreakerState], None] | None = None,
    ) -> None:
        self.provider = provider
        self.policy = policy
        self._clock = clock
        self._on_change = on_change
        self.state: BreakerState = "closed"
        self.consecutive_failures = 0
        self._opened_at = 0.0
        self._probe_in_flight = False

    def _move(self, event: BreakerEvent) -> None:
        old = self.state
        new = TRANSITIONS[(old, event)]
        self.state = new
        if new == "open" and old != "open":
            self._opened_at = self._clock()
        if new != "half_open":
            self._probe_in_flight = False
        if new != old and self._on_change is not None:
            self._on_change(old, new)

    def before_call(self) -> None:
        """Admit a call, or raise :class:`CircuitOpen`; the first call after ``reset_s`` probes."""
        if self.state == "open":
            waited = self._clock() - self._opened_at
            if waited < self.policy.reset_s:
                raise CircuitOpen(self.provider, self.policy.reset_s - waited)
            self._move("cooled_down")
        if self.state == "half_open":
            if self._probe_in_flight:
                raise CircuitOpen(self.provider, 0.0)
            self._probe_in_flight = True

    def record_success(self) -> None:
        """The provider answered (2xx or 4xx): close, and forget the failures."""
        self.consecutive_failures = 0
        self._move("success")

    def record_failure(self) -> None:
        """A retryable failure: count it; open at the threshold or when a probe fails."""
        self.consecutive_failures += 1
        reached = self.consecutive_failures >= self.policy.failures
        self._move("threshold" if reached else "failure")

    def abandon(self) -> None:
        """The call ended without a verdict (cancelled): free the probe slot, change nothing."""
        self._probe_in_flight = False
