"""The retry policy of :class:`~connectors.client.NdxpClient`, as a value, and its tenacity wait.

Which outcomes are retryable is the errors' business (``NdxpError.retryable``, see
:mod:`connectors.errors`); whether this call may be retried at all (a GET, or a POST with an
``Idempotency-Key``) is the client's. This module says how often and how long to wait: full
jitter exponential backoff (tenacity's ``wait_random_exponential``, the AWS "full jitter"
scheme, so that 63 provinces retrying after one outage do not come back in lockstep), or the
answer's own ``Retry-After`` when it gives one.
"""

from __future__ import annotations

from dataclasses import dataclass

from tenacity import RetryCallState
from tenacity.wait import wait_base, wait_random_exponential

from connectors.errors import NdxpError


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how long to retry a retryable failure.

    ``max_attempts`` counts the first try. Backoff is full jitter: a uniform delay in
    ``[0, min(backoff_max_s, backoff_initial_s * 2**n))``. A ``Retry-After`` is honoured as
    given when at most ``retry_after_cap_s``; a longer one (a maintenance window, a spent
    quota) ends the call at once rather than holding it open.
    """

    max_attempts: int = 4
    backoff_initial_s: float = 0.5
    backoff_max_s: float = 8.0
    retry_after_cap_s: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")

    def allows(self, exc: BaseException) -> bool:
        """Whether ``exc`` is worth another attempt (idempotency is checked by the caller)."""
        if not isinstance(exc, NdxpError) or not exc.retryable:
            return False
        return exc.retry_after_s is None or exc.retry_after_s <= self.retry_after_cap_s


class WaitRetryAfterOrBackoff(wait_base):
    """Tenacity wait: the failed answer's ``Retry-After`` if it had one, else jittered backoff."""

    def __init__(self, policy: RetryPolicy) -> None:
        self._policy = policy
        self._backoff = wait_random_exponential(
            multiplier=policy.backoff_initial_s, max=policy.backoff_max_s
        )

    def __call__(self, retry_state: RetryCallState) -> float:
        outcome = retry_state.outcome
        exc = outcome.exception() if outcome is not None else None
        if isinstance(exc, NdxpError) and exc.retry_after_s is not None:
            return min(exc.retry_after_s, self._policy.retry_after_cap_s)
        return float(self._backoff(retry_state))
