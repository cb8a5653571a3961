"""Quota admission (*kiểm soát hạn mức*): one call gives the decision and the headers to send.

:func:`admit` counts one exchange against the consumer's daily quotas (all its counters at
once, in the quota store's atomic step) and returns an :class:`Admission`: whether it may go
on, the ``RateLimit-Policy`` / ``RateLimit`` headers (draft-ietf-httpapi-ratelimit-headers)
every answer carries, the tightest remaining count for the record, and — when refused — the
429 ``quota_exceeded`` to raise, with ``Retry-After`` at local midnight plus jitter.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime

from gateway.errors import QuotaExceeded
from gateway.quota_rules import limited, rules_for, tightest_remaining
from gateway.quotas import QuotaStore, local_day, ratelimit_headers, retry_after_seconds
from gateway.registry import ConsumerSpec


@dataclass(frozen=True, slots=True)
class Admission:
    """The quota decision for one exchange and what the province is told about it."""

    headers: dict[str, str]
    remaining: int | None  # tightest remaining count today; None if no quota applies
    refusal: QuotaExceeded | None = None  # set when the exchange must not go on

    @property
    def admitted(self) -> bool:
        return self.refusal is None


async def admit(
    quotas: QuotaStore,
    consumer: ConsumerSpec,
    service: str,
    now: datetime,
    rng: random.Random,
) -> Admission:
    """Count one exchange of ``consumer`` with ``service`` today, or refuse it.

    ``service`` is the counted one, :attr:`gateway.routing.Route.quota_service`: a v2
    operation's v1, so both versions draw on one counter.
    """
    decision = await quotas.acquire(rules_for(consumer, service), local_day(now))
    headers = ratelimit_headers(limited(decision), now)
    remaining = tightest_remaining(decision.states)
    if decision.admitted:
        return Admission(headers, remaining)
    refusal = QuotaExceeded(
        f"{consumer.id} has used its daily quota ({', '.join(decision.violated)}); "
        "it resets at local midnight (Asia/Ho_Chi_Minh)",
        headers={"Retry-After": str(retry_after_seconds(now, rng)), **headers},
        extensions={"violated-policies": list(decision.violated)},
    )
    return Admission(headers, remaining, refusal)
