"""Every quota-store behaviour, run against both stores: SQLite (one host) and Redis (shared).

Each test gets a ``make_store`` factory whose stores share one backend — one SQLite file, or
one Redis key prefix of the test's own, deleted afterwards — so "another store" is what a
second worker or a second gateway instance has. Redis is the machine's shared server
(``NDXP_TEST_REDIS_URL``); without it these tests fail, they never skip.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.quota_rules import UNLIMITED
from gateway.quotas import (
    QuotaDecision,
    QuotaRule,
    QuotaState,
    QuotaStore,
    SqliteQuotaStore,
    ratelimit_headers,
)
from gateway.quotas_redis import RedisQuotaStore
from ndxp_sim.private_servers import require_redis
from tests.quota_rules import CONSUMER, DAY, SERVICE

MakeStore = Callable[[], QuotaStore]


@pytest.fixture(params=["sqlite", "redis"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    """Stores on one backend: several workers or instances, or one restarted."""
    made: list[QuotaStore] = []
    prefix = f"ndxp-test:{uuid.uuid4().hex}:"
    url = require_redis() if request.param == "redis" else ""

    def make() -> QuotaStore:
        store: QuotaStore
        if request.param == "sqlite":
            store = SqliteQuotaStore(tmp_path / "quotas.db")
        else:
            store = RedisQuotaStore(url, prefix=prefix)
        made.append(store)
        return store

    yield make
    if request.param == "redis":
        cleaner = RedisQuotaStore(url, prefix=prefix)
        await cleaner.delete_prefix()
        await cleaner.close()
    for store in made:
        await store.close()


@pytest.fixture
def store(make_store: MakeStore) -> QuotaStore:
    return make_store()


# --- counting ----------------------------------------------------------------------------


async def test_acquire_admits_up_to_the_limit_then_rejects(store: QuotaStore) -> None:
    decisions = [await store.acquire([SERVICE], DAY) for _ in range(5)]
    assert [d.admitted for d in decisions] == [True, True, True, False, False]
    assert decisions[2].states == (
        QuotaState(key=SERVICE.key, policy=SERVICE.policy, limit=3, used=3, remaining=0),
    )
    assert decisions[3].violated == ("daily-population.get_citizen",)
    assert decisions[3].states[0].used == 3
    assert await store.usage(DAY) == {SERVICE.key: 3}


async def test_states_are_reported_after_the_decision(store: QuotaStore) -> None:
    decision = await store.acquire([CONSUMER, SERVICE], DAY)
    assert decision.admitted
    assert decision.violated == ()
    assert [(s.used, s.remaining) for s in decision.states] == [(1, 4), (1, 2)]


async def test_spent_consumer_quota_does_not_increment_service_counter(
    store: QuotaStore,
) -> None:
    other = QuotaRule(key="onestop-thanh-hoa|civil-registry.get_dossier", policy="x", limit=99)
    for _ in range(CONSUMER.limit):
        assert (await store.acquire([CONSUMER, other], DAY)).admitted
    decision = await store.acquire([CONSUMER, SERVICE], DAY)
    assert not decision.admitted
    assert decision.violated == ("daily",)
    usage = await store.usage(DAY)
    assert SERVICE.key not in usage  # all or nothing: the service counter never moved
    assert usage[CONSUMER.key] == CONSUMER.limit


async def test_spent_service_quota_does_not_increment_consumer_counter(
    store: QuotaStore,
) -> None:
    for _ in range(SERVICE.limit):
        await store.acquire([CONSUMER, SERVICE], DAY)
    decision = await store.acquire([CONSUMER, SERVICE], DAY)
    assert not decision.admitted
    assert decision.violated == ("daily-population.get_citizen",)
    assert await store.usage(DAY) == {CONSUMER.key: 3, SERVICE.key: 3}


async def test_usage_is_per_local_day(store: QuotaStore) -> None:
    for _ in range(SERVICE.limit):
        await store.acquire([SERVICE], DAY)
    assert not (await store.acquire([SERVICE], DAY)).admitted
    next_day = DAY + timedelta(days=1)
    assert (await store.acquire([SERVICE], next_day)).admitted
    assert await store.usage(next_day) == {SERVICE.key: 1}
    assert await store.usage(DAY) == {SERVICE.key: 3}


async def test_usage_lists_every_consumer_of_the_day(store: QuotaStore) -> None:
    rules = [QuotaRule(key=f"onestop-{n}", policy="daily", limit=10) for n in range(7)]
    for i, rule in enumerate(rules):
        for _ in range(i + 1):
            await store.acquire([rule], DAY)
    assert await store.usage(DAY) == {rule.key: i + 1 for i, rule in enumerate(rules)}


async def test_concurrent_acquires_never_admit_more_than_the_limit(store: QuotaStore) -> None:
    rule = QuotaRule(key="onestop-ha-noi", policy="daily", limit=37)
    decisions = await asyncio.gather(*(store.acquire([rule], DAY) for _ in range(200)))
    assert sum(d.admitted for d in decisions) == 37
    assert await store.usage(DAY) == {"onestop-ha-noi": 37}


async def test_two_stores_on_one_backend_share_the_limit_exactly(
    store: QuotaStore, make_store: MakeStore
) -> None:
    other = make_store()  # what a second worker or a second gateway instance has
    rule = QuotaRule(key="onestop-da-nang", policy="daily", limit=50)
    calls = [(store if i % 2 else other).acquire([rule], DAY) for i in range(200)]
    decisions = await asyncio.gather(*calls)
    assert sum(d.admitted for d in decisions) == 50


async def test_restart_keeps_the_days_usage(make_store: MakeStore) -> None:
    first = make_store()
    for _ in range(2):
        await first.acquire([SERVICE], DAY)
    await first.close()
    restarted = make_store()
    assert await restarted.usage(DAY) == {SERVICE.key: 2}
    decision = await restarted.acquire([SERVICE], DAY)
    assert decision.states[0].used == 3


async def test_unlimited_counters_count_and_keep_their_limit_exactly(store: QuotaStore) -> None:
    rule = QuotaRule(key="onestop-hue|population.get_citizen", policy="p", limit=UNLIMITED)
    decision = await store.acquire([rule], DAY)
    assert decision.admitted
    assert decision.states == (QuotaState(rule.key, "p", UNLIMITED, 1, UNLIMITED - 1),)


async def test_acquire_with_no_rules_admits_without_state(store: QuotaStore) -> None:
    decision = await store.acquire([], DAY)
    assert decision == QuotaDecision(admitted=True, states=(), violated=())


async def test_duplicate_rule_keys_are_refused(store: QuotaStore) -> None:
    with pytest.raises(ValueError, match="distinct"):
        await store.acquire([SERVICE, SERVICE], DAY)


async def test_closed_store_refuses_calls(make_store: MakeStore) -> None:
    closed = make_store()
    await closed.close()
    with pytest.raises(RuntimeError, match="closed"):
        await closed.usage(DAY)


# --- overrides and admin reset -----------------------------------------------------------


async def test_override_applies_to_the_next_acquire(store: QuotaStore) -> None:
    for _ in range(SERVICE.limit):
        await store.acquire([SERVICE], DAY)
    await store.set_override(SERVICE.key, 4)
    raised = await store.acquire([SERVICE], DAY)
    assert raised.admitted
    assert raised.states[0].limit == 4
    await store.set_override(SERVICE.key, 1)
    lowered = await store.acquire([SERVICE], DAY)
    assert not lowered.admitted
    assert lowered.states[0] == QuotaState(SERVICE.key, SERVICE.policy, 1, used=4, remaining=0)


async def test_override_set_by_another_store_applies_immediately(
    store: QuotaStore, make_store: MakeStore
) -> None:
    admin = make_store()
    await admin.set_override(SERVICE.key, 0)
    assert not (await store.acquire([SERVICE], DAY)).admitted


async def test_removing_an_override_restores_the_registry_limit(store: QuotaStore) -> None:
    await store.set_override(SERVICE.key, 10)
    await store.set_override(CONSUMER.key, 20)
    assert await store.overrides() == {SERVICE.key: 10, CONSUMER.key: 20}
    await store.set_override(SERVICE.key, None)
    assert await store.overrides() == {CONSUMER.key: 20}
    decision = await store.acquire([SERVICE], DAY)
    assert decision.states[0].limit == SERVICE.limit


async def test_negative_override_is_refused(store: QuotaStore) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        await store.set_override(SERVICE.key, -1)
    assert await store.overrides() == {}


async def test_reset_zeroes_one_key_or_the_whole_day(store: QuotaStore) -> None:
    for _ in range(2):
        await store.acquire([CONSUMER, SERVICE], DAY)
    await store.acquire([SERVICE], DAY + timedelta(days=1))
    await store.reset(DAY, SERVICE.key)
    assert await store.usage(DAY) == {CONSUMER.key: 2}
    await store.reset(DAY)
    assert await store.usage(DAY) == {}
    assert await store.usage(DAY + timedelta(days=1)) == {SERVICE.key: 1}


async def test_reset_lets_a_spent_counter_admit_again(store: QuotaStore) -> None:
    for _ in range(SERVICE.limit):
        await store.acquire([SERVICE], DAY)
    await store.reset(DAY, SERVICE.key)
    assert (await store.acquire([SERVICE], DAY)).states[0].used == 1


# --- the same decisions, the same headers, from both stores ------------------------------


async def test_both_stores_decide_alike_and_give_identical_ratelimit_headers(
    tmp_path: Path,
) -> None:
    prefix = f"ndxp-test:{uuid.uuid4().hex}:"
    sqlite_store = SqliteQuotaStore(tmp_path / "quotas.db")
    redis_store = RedisQuotaStore(require_redis(), prefix=prefix)
    now = datetime(2025, 3, 14, 15, 58, 7, tzinfo=UTC)
    script: list[tuple[str, object]] = [
        *[("acquire", [CONSUMER, SERVICE])] * 4,
        ("override", (SERVICE.key, 6)),
        *[("acquire", [CONSUMER, SERVICE])] * 3,
        ("reset", CONSUMER.key),
        *[("acquire", [CONSUMER, SERVICE])] * 2,
    ]
    try:
        seen: dict[str, list[object]] = {"sqlite": [], "redis": []}
        for name, quota_store in (("sqlite", sqlite_store), ("redis", redis_store)):
            for op, arg in script:
                if op == "acquire":
                    assert isinstance(arg, list)
                    decision = await quota_store.acquire(arg, DAY)
                    seen[name].append((decision, ratelimit_headers(decision, now)))
                elif op == "override":
                    assert isinstance(arg, tuple)
                    await quota_store.set_override(*arg)
                else:
                    assert isinstance(arg, str)
                    await quota_store.reset(DAY, arg)
            seen[name].append(await quota_store.usage(DAY))
        assert seen["redis"] == seen["sqlite"]
        # 3 (service limit), +2 after the override (consumer limit 5), +1 after the reset
        # (service at 6): the script crossed every limit, so the comparison meant something.
        admitted = [item[0].admitted for item in seen["sqlite"] if isinstance(item, tuple)]
        assert admitted == [True] * 3 + [False] + [True] * 2 + [False] + [True, False]
    finally:
        await redis_store.delete_prefix()
        await redis_store.close()
        await sqlite_store.close()
