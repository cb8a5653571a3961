"""The circuit breaker: its transition table, driven by a fake clock."""

from __future__ import annotations

import pytest

from connectors.breaker import TRANSITIONS, BreakerPolicy, CircuitBreaker
from connectors.errors import CircuitOpen
from connectors.events import BreakerState


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[tuple[BreakerState, BreakerState]]:
    return []


@pytest.fixture
def breaker(clock: Clock, changes: list[tuple[BreakerState, BreakerState]]) -> CircuitBreaker:
    policy = BreakerPolicy(failures=3, reset_s=30.0)
    return CircuitBreaker(
        "population", policy, clock=clock, on_change=lambda old, new: changes.append((old, new))
    )


def fail(breaker: CircuitBreaker, times: int) -> None:
    for _ in range(times):
        breaker.before_call()
        breaker.record_failure()


def test_table_covers_every_state_and_only_cooled_down_leaves_open() -> None:
    states = {state for state, _ in TRANSITIONS}
    assert states == {"closed", "open", "half_open"}
    assert {new for (old, _), new in TRANSITIONS.items() if old == "open"} == {"open", "half_open"}
    assert TRANSITIONS[("half_open", "failure")] == "open"
    assert TRANSITIONS[("half_open", "success")] == "closed"


def test_stays_closed_below_the_threshold(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)

    assert breaker.state == "closed"
    breaker.before_call()  # admitted


def test_a_success_resets_the_count(breaker: CircuitBreaker) -> None:
    fail(breaker, 2)
    breaker.record_success()
    fail(breaker, 2)

    assert breaker.state == "closed"


def test_opens_at_the_threshold_and_refuses_calls(
    breaker: CircuitBreaker, clock: Clock, changes: list[tuple[str, str]]
) -> None:
    fail(breaker, 3)
    clock.now = 10.0

    with pytest.raises(CircuitOpen) as caught:
        breaker.before_call()

    assert breaker.state == "open"
    assert changes == [("closed", "open")]
    assert caught.value.retry_in_s == pytest.approx(20.0)


def test_half_open_after_reset_lets_one_probe_through(
    breaker: CircuitBreaker, clock: Clock, changes: list[tuple[str, str]]
) -> None:
    fail(breaker, 3)
    clock.now = 30.0

    breaker.before_call()  # the probe
    with pytest.raises(CircuitOpen):
        breaker.before_call()  # a second caller while the probe is out

    assert breaker.state == "half_open"
    assert changes[-1] == ("open", "half_open")


def test_probe_success_closes(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now = 30.0
    breaker.before_call()

    breaker.record_success()

    assert breaker.state == "closed"
    breaker.before_call()
    breaker.before_call()


def test_probe_failure_reopens_for_another_reset_period(
    breaker: CircuitBreaker, clock: Clock
) -> None:
    fail(breaker, 3)
    clock.now = 30.0
    breaker.before_call()

    breaker.record_failure()
    clock.now = 59.0

    assert breaker.state == "open"
    with pytest.raises(CircuitOpen):
        breaker.before_call()
    clock.now = 60.0
    breaker.before_call()
    assert breaker.state == "half_open"


def test_abandoned_probe_frees_the_slot(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now = 30.0
    breaker.before_call()

    breaker.abandon()

    breaker.before_call()  # another probe may go
    assert breaker.state == "half_open"


def test_late_answers_while_open_change_nothing(breaker: CircuitBreaker, clock: Clock) -> None:
    fail(breaker, 3)
    clock.now = 20.0

    breaker.record_success()  # a call admitted before the breaker opened
    breaker.record_failure()

    assert breaker.state == "open"
    clock.now = 30.0  # the reset counts from the opening, not from the late failure
    breaker.before_call()
    assert breaker.state == "half_open"


@pytest.mark.parametrize(("failures", "reset_s"), [(0, 1.0), (1, -1.0)])
def test_policy_refuses_nonsense(failures: int, reset_s: float) -> None:
    with pytest.raises(ValueError, match="breaker"):
        BreakerPolicy(failures=failures, reset_s=reset_s)
