"""Which daily quotas (*hạn mức hằng ngày*) a request draws on, named as the headers show them.

Every exchange counts against two counters: the consumer's own (policy ``daily``, key
``onestop-thanh-hoa``) and the consumer × service one (policy
``daily-population.get_citizen``, key ``onestop-thanh-hoa|population.get_citizen``). A counter
with no limit in the registry still counts — ops see per-service usage, and an admin override
can cap it at runtime, at once and in every worker, because overrides are applied inside the
store's atomic acquire. Its limit is :data:`UNLIMITED`, which headers, views and metrics leave
out. An operation with a ``quota_service`` in the registry (a v2 beside its v1) draws on that
service's counter, so a consumer's 50,000 lookups a day are one figure whichever version it calls.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace

from contracts.gateway import QuotaEntry
from gateway.quotas import QuotaDecision, QuotaRule, QuotaState
from gateway.registry import ConsumerSpec

# Larger than any day's traffic, small enough for SQLite's 64-bit integers.
UNLIMITED = 2**62
CONSUMER_POLICY = "daily"


def consumer_key(consumer_id: str) -> str:
    return consumer_id


def service_key(consumer_id: str, service: str) -> str:
    return f"{consumer_id}|{service}"


def service_policy(service: str) -> str:
    return f"{CONSUMER_POLICY}-{service}"


def split_key(key: str) -> tuple[str, str | None]:
    """``"c|s"`` → ``("c", "s")``; ``"c"`` → ``("c", None)``."""
    consumer, _, service = key.partition("|")
    return consumer, service or None


def rules_for(consumer: ConsumerSpec, service: str) -> tuple[QuotaRule, QuotaRule]:
    """The two counters an exchange of ``consumer`` with ``service`` draws on."""
    consumer_limit = consumer.daily_quota
    service_limit = consumer.service_quotas.get(service)
    return (
        QuotaRule(
            key=consumer_key(consumer.id),
            policy=CONSUMER_POLICY,
            limit=UNLIMITED if consumer_limit is None else consumer_limit,
        ),
        QuotaRule(
            key=service_key(consumer.id, service),
            policy=service_policy(service),
            limit=UNLIMITED if service_limit is None else service_limit,
        ),
    )


def limited(decision: QuotaDecision) -> QuotaDecision:
    """The decision with unlimited counters left out (what the RateLimit headers show)."""
    states = tuple(s for s in decision.states if s.limit < UNLIMITED)
    if len(states) == len(decision.states):
        return decision
    return replace(decision, states=states)


def tightest_remaining(states: tuple[QuotaState, ...]) -> int | None:
    """The fewest requests left today over the limited counters; None if none is limited."""
    remaining = [s.remaining for s in states if s.limit < UNLIMITED]
    return min(remaining) if remaining else None


def quota_entries(
    consumers: Iterable[ConsumerSpec],
    usage: Mapping[str, int],
    overrides: Mapping[str, int],
) -> list[QuotaEntry]:
    """Today's quotas of ``consumers``: each one's own, then every service that has a limit,
    an override or some usage today."""
    entries: list[QuotaEntry] = []
    for consumer in consumers:
        prefix = consumer.id + "|"
        services = set(consumer.service_quotas)
        services.update(split_key(k)[1] or "" for k in (*usage, *overrides) if k.startswith(prefix))
        rows: list[tuple[str, str | None, str, int | None]] = [
            (consumer_key(consumer.id), None, CONSUMER_POLICY, consumer.daily_quota)
        ]
        rows += [
            (service_key(consumer.id, s), s, service_policy(s), consumer.service_quotas.get(s))
            for s in sorted(services)
        ]
        for key, service, policy, default in rows:
            override = overrides.get(key)
            limit = default if override is None else override
            used = usage.get(key, 0)
            entries.append(
                QuotaEntry(
                    consumer=consumer.id,
                    service=service,
                    policy=policy,
                    default_limit=default,
                    override=override,
                    limit=limit,
                    used=used,
                    remaining=None if limit is None else max(0, limit - used),
                )
            )
    return entries
