"""What the gateway does when the quota store cannot be reached: the failure policy.

``quota_failure_policy`` (``NDXP_GATEWAY__QUOTA_FAILURE_POLICY``):

- ``closed`` (the default, X-Road's stance): refuse the exchange with 503
  ``quota_unavailable``. No exchange is admitted that was not counted, so no quota is ever
  exceeded; the provinces wait out the outage (their SDK retries the 503).
- ``open`` (Kong's default): admit the exchange without counting it, and tell
  ``on_unmetered`` (the gateway counts ``ndxp_quota_unmetered_total`` per consumer and
  service), so ops can see how much went through unmetered and reconcile. The answer carries
  no RateLimit headers, since there is no count to report.

Either way the exchange is logged with its outcome, and the next call tries the store again:
when it returns, counting resumes without a restart. Admin reads and writes of quotas have
no safe fallback and always answer 503 ``quota_unavailable`` while the store is down.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

import structlog

from gateway.errors import QuotaUnavailable
from gateway.quotas import (
    FailurePolicy,
    QuotaDecision,
    QuotaRule,
    QuotaStore,
    QuotaStoreUnavailable,
)

_log = structlog.get_logger(__name__)
UNMETERED = QuotaDecision(admitted=True, states=(), violated=())


class GuardedQuotaStore:
    """A :class:`gateway.quotas.QuotaStore` that applies the failure policy around another."""

    def __init__(
        self,
        store: QuotaStore,
        policy: FailurePolicy = "closed",
        on_unmetered: Callable[[Sequence[QuotaRule]], None] | None = None,
    ) -> None:
        if policy not in ("closed", "open"):
            raise ValueError(f"quota_failure_policy must be closed or open, got {policy!r}")
        self.store = store
        self.policy = policy
        self._on_unmetered = on_unmetered
        self._down = False  # log the outage once when it starts and once when it ends

    def _failed(self, exc: QuotaStoreUnavailable) -> None:
        if not self._down:
            self._down = True
            _log.error("quota_store_unavailable", policy=self.policy, error=str(exc))

    def _answered(self) -> None:
        if self._down:
            self._down = False
            _log.warning("quota_store_recovered", policy=self.policy)

    def _refusal(self, exc: QuotaStoreUnavailable) -> QuotaUnavailable:
        self._failed(exc)
        return QuotaUnavailable(
            "the daily quota store cannot be reached; retry shortly", headers={"Retry-After": "1"}
        )

    async def acquire(self, rules: Sequence[QuotaRule], day: date) -> QuotaDecision:
        """The store's decision; while it is down, the policy's."""
        try:
            decision = await self.store.acquire(rules, day)
        except QuotaStoreUnavailable as exc:
            if self.policy == "closed":
                raise self._refusal(exc) from exc
            self._failed(exc)
            if self._on_unmetered is not None:
                self._on_unmetered(rules)
            return UNMETERED
        self._answered()
        return decision

    async def usage(self, day: date) -> dict[str, int]:
        try:
            return await self.store.usage(day)
        except QuotaStoreUnavailable as exc:
            raise self._refusal(exc) from exc

    async def overrides(self) -> dict[str, int]:
        try:
            return await self.store.overrides()
        except QuotaStoreUnavailable as exc:
            raise self._refusal(exc) from exc

    async def set_override(self, key: str, limit: int | None) -> None:
        try:
            await self.store.set_override(key, limit)
        except QuotaStoreUnavailable as exc:
            raise self._refusal(exc) from exc

    async def reset(self, day: date, key: str | None = None) -> None:
        try:
            await self.store.reset(day, key)
        except QuotaStoreUnavailable as exc:
            raise self._refusal(exc) from exc

    async def close(self) -> None:
        await self.store.close()
