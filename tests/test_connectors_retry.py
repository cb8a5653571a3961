"""The retry policy: what it allows, and the waits it asks tenacity for."""

from __future__ import annotations

import pytest
from tenacity import Future as TenacityFuture
from tenacity import RetryCallState, Retrying

from connectors.errors import (
    InvalidRequest,
    ProviderMaintenance,
    UpstreamOverloaded,
    UpstreamTimeout,
)
from connectors.retry import RetryPolicy, WaitRetryAfterOrBackoff

POLICY = RetryPolicy(max_attempts=6, backoff_initial_s=0.5, backoff_max_s=4.0, retry_after_cap_s=30)


def failed_attempt(number: int, exc: BaseException) -> RetryCallState:
    state = RetryCallState(Retrying(), fn=None, args=(), kwargs={})
    state.attempt_number = number
    state.outcome = TenacityFuture.construct(number, exc, has_exception=True)
    return state


@pytest.mark.parametrize(
    ("exc", "allowed"),
    [
        (UpstreamTimeout(), True),
        (UpstreamOverloaded(retry_after_s=30), True),
        (ProviderMaintenance(retry_after_s=31), False),  # over the cap: not worth holding on
        (InvalidRequest(), False),
        (ValueError("a bug"), False),
    ],
)
def test_allows_only_retryable_errors_within_the_cap(exc: BaseException, allowed: bool) -> None:
    assert POLICY.allows(exc) is allowed


def test_backoff_is_full_jitter_exponential_and_capped() -> None:
    wait = WaitRetryAfterOrBackoff(POLICY)
    for attempt in range(1, 7):
        ceiling = min(POLICY.backoff_max_s, POLICY.backoff_initial_s * 2 ** (attempt - 1))
        delays = [wait(failed_attempt(attempt, UpstreamTimeout())) for _ in range(200)]
        assert all(0 <= d <= ceiling for d in delays)
        assert max(delays) > ceiling / 2  # jittered over the range, not pinned at zero
        assert len(set(delays)) > 1


def test_retry_after_replaces_the_backoff() -> None:
    wait = WaitRetryAfterOrBackoff(POLICY)

    assert wait(failed_attempt(1, UpstreamOverloaded(retry_after_s=7))) == 7


def test_policy_refuses_no_attempts() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
