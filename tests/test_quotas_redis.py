"""What only the Redis quota store has: its keys, their expiry, an outage and the recovery.

The behaviour it shares with SQLite is in test_quota_store_conformance.py. Outages use a
private redis-server on a free port (never the shared one), killed with SIGKILL.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

import pytest
import redis.asyncio as aioredis
from redis.crc import key_slot

from gateway.quota_rules import rules_for
from gateway.quotas import LOCAL_TZ, QuotaRule, QuotaStoreUnavailable, local_day
from gateway.quotas_redis import EXPIRY_GRACE_S, RedisQuotaStore, day_expiry
from gateway.registry import ConsumerSpec
from gateway.testing import free_port
from ndxp_sim.private_servers import private_redis, require_redis

RULE = QuotaRule(key="onestop-hue|population.get_citizen", policy="daily-p", limit=10)


@pytest.fixture
async def store() -> AsyncIterator[RedisQuotaStore]:
    quota_store = RedisQuotaStore(require_redis(), prefix=f"ndxp-test:{uuid.uuid4().hex}:")
    yield quota_store
    await quota_store.delete_prefix()
    await quota_store.close()


@pytest.fixture
async def raw() -> AsyncIterator[aioredis.Redis]:
    client = aioredis.Redis.from_url(require_redis(), decode_responses=True)
    yield client
    await client.aclose()


async def test_a_days_counters_expire_an_hour_after_its_local_midnight(
    store: RedisQuotaStore, raw: aioredis.Redis
) -> None:
    day = local_day(datetime.now(UTC)) + timedelta(days=1)  # a day that is not over yet
    await store.acquire([RULE], day)
    (key,) = [k async for k in raw.scan_iter(match=store.prefix + "quota:*")]
    local_midnight = datetime.combine(day + timedelta(days=1), time(0), LOCAL_TZ)
    assert await raw.expiretime(key) == int(local_midnight.timestamp()) + EXPIRY_GRACE_S
    assert local_midnight.astimezone(UTC).hour == 17  # 00:00 local is 17:00 UTC


def test_a_day_already_over_keeps_its_counters_for_the_grace_after_the_write() -> None:
    day = date(2025, 3, 14)
    now = datetime(2025, 6, 1, tzinfo=UTC).timestamp()
    assert day_expiry(day, now) == int(now) + EXPIRY_GRACE_S


async def test_overrides_never_expire(store: RedisQuotaStore, raw: aioredis.Redis) -> None:
    await store.set_override(RULE.key, 3)
    (key,) = [k async for k in raw.scan_iter(match=store.prefix + "override:*")]
    assert await raw.ttl(key) == -1  # no expiry


def test_everything_one_exchange_touches_hashes_to_one_cluster_slot() -> None:
    # Redis Cluster runs a script only on keys of one slot: the consumer is the hash tag.
    quota_store = RedisQuotaStore("redis://127.0.0.1:1/0")
    consumer = ConsumerSpec(
        id="onestop-thanh-hoa",
        name="x",
        client_id="onestop-thanh-hoa",
        client_secret="s",  # type: ignore[arg-type]  # pydantic coerces to SecretStr
        subscriptions=["population.*"],
    )
    day = date(2025, 3, 14)
    keys = [quota_store._usage_key(consumer.id, day), quota_store._override_key(consumer.id)]
    keys += [
        quota_store._usage_key(rule.key.partition("|")[0], day)
        for rule in rules_for(consumer, "population.get_citizen")
    ]
    assert len({key_slot(key.encode()) for key in keys}) == 1
    other = quota_store._usage_key("onestop-ha-noi", day)
    assert key_slot(other.encode()) != key_slot(keys[0].encode())


async def test_every_call_raises_unavailable_when_nothing_listens() -> None:
    quota_store = RedisQuotaStore(f"redis://127.0.0.1:{free_port()}/0")
    day = date(2025, 3, 14)
    try:
        calls = [
            quota_store.acquire([RULE], day),
            quota_store.usage(day),
            quota_store.overrides(),
            quota_store.set_override(RULE.key, 1),
            quota_store.reset(day),
        ]
        for call in calls:
            with pytest.raises(QuotaStoreUnavailable, match="redis"):
                await call
        assert not await quota_store.ping()
    finally:
        await quota_store.close()


async def test_counting_resumes_after_redis_restarts_with_every_acknowledged_admission(
    tmp_path: Path,
) -> None:
    day = date(2025, 3, 14)
    with private_redis(tmp_path / "redis") as server:
        quota_store = RedisQuotaStore(server.url)
        try:
            for _ in range(3):
                assert (await quota_store.acquire([RULE], day)).admitted
            server.kill()  # a crash: no shutdown save
            with pytest.raises(QuotaStoreUnavailable):
                await quota_store.acquire([RULE], day)
            server.start()  # same port, same directory: the AOF replays
            # The same store object, its pooled connections dead: no restart of the gateway.
            decision = await quota_store.acquire([RULE], day)
            assert decision.admitted
            assert decision.states[0].used == 4
        finally:
            await quota_store.close()


def test_client_options_in_the_url_replace_the_defaults() -> None:
    quota_store = RedisQuotaStore("redis://127.0.0.1:6379/0?socket_timeout=3")
    options = quota_store._redis.connection_pool.connection_kwargs
    assert options["socket_timeout"] == 3.0
    assert options["socket_connect_timeout"] == 2.0
