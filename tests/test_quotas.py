"""Daily quotas: the local day, the store's exact all-or-nothing counting, the header values."""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from gateway.quotas import (
    LOCAL_TZ,
    QuotaDecision,
    QuotaRule,
    QuotaState,
    SqliteQuotaStore,
    connect_sqlite,
    local_day,
    open_quota_store,
    ratelimit_headers,
    retry_after_seconds,
    seconds_until_local_midnight,
)

DAY = date(2025, 3, 14)
CONSUMER = QuotaRule(key="onestop-thanh-hoa", policy="daily", limit=5)
SERVICE = QuotaRule(
    key="onestop-thanh-hoa|population.get_citizen",
    policy="daily-population.get_citizen",
    limit=3,
)


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=LOCAL_TZ)


@pytest.fixture
async def make_store(tmp_path: Path) -> AsyncIterator[Callable[[], SqliteQuotaStore]]:
    """Stores on one file: several workers, or one worker restarted. Closed at teardown."""
    made: list[SqliteQuotaStore] = []

    def make() -> SqliteQuotaStore:
        made.append(SqliteQuotaStore(tmp_path / "quotas.db"))
        return made[-1]

    yield make
    for quota_store in made:
        await quota_store.close()


@pytest.fixture
def store(make_store: Callable[[], SqliteQuotaStore]) -> SqliteQuotaStore:
    return make_store()


# --- the local day -----------------------------------------------------------------------


def test_local_day_changes_at_local_midnight_not_utc_midnight() -> None:
    assert local_day(local(2025, 3, 14, 23, 59)) == date(2025, 3, 14)
    assert local_day(local(2025, 3, 15, 0, 1)) == date(2025, 3, 15)


def test_local_day_resets_at_1700_utc() -> None:
    assert local_day(utc(2025, 3, 14, 16, 59, 59)) == date(2025, 3, 14)
    assert local_day(utc(2025, 3, 14, 17, 0, 0)) == date(2025, 3, 15)


def test_local_day_does_not_change_at_utc_midnight() -> None:
    # 23:59 UTC and 00:01 UTC are 06:59 and 07:01 of the same local day.
    assert local_day(utc(2025, 3, 14, 23, 59)) == local_day(utc(2025, 3, 15, 0, 1))


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(ValueError, match="naive"):
        local_day(datetime(2025, 3, 14, 12, 0))


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        pytest.param(utc(2025, 3, 14, 16, 59, 0), 60, id="one-minute-before-local-midnight"),
        pytest.param(utc(2025, 3, 14, 17, 0, 0), 86_400, id="at-local-midnight-a-whole-day"),
        pytest.param(local(2025, 3, 14, 23, 59, 59), 1, id="last-second"),
        pytest.param(utc(2025, 3, 14, 16, 59, 59, 500_000), 1, id="half-a-second-rounds-up-to-one"),
        pytest.param(utc(2025, 3, 14, 0, 0, 0), 17 * 3600, id="utc-midnight-is-not-a-reset"),
    ],
)
def test_seconds_until_local_midnight(now: datetime, expected: int) -> None:
    assert seconds_until_local_midnight(now) == expected


def test_retry_after_is_time_to_local_midnight_plus_bounded_jitter() -> None:
    now = utc(2025, 3, 14, 16, 0, 0)
    rng = random.Random(7)
    values = [retry_after_seconds(now, rng, max_jitter_s=300) for _ in range(200)]
    assert all(3600 <= value <= 3900 for value in values)
    assert len(set(values)) > 50  # spread out, not one herd


def test_retry_after_without_jitter_is_exact_and_seeded_jitter_repeats() -> None:
    now = utc(2025, 3, 14, 16, 0, 0)
    assert retry_after_seconds(now, random.Random(1), max_jitter_s=0) == 3600
    first = [retry_after_seconds(now, random.Random(42)) for _ in range(3)]
    assert len(set(first)) == 1


# --- the store: counting -----------------------------------------------------------------


async def test_acquire_admits_up_to_the_limit_then_rejects(store: SqliteQuotaStore) -> None:
    decisions = [await store.acquire([SERVICE], DAY) for _ in range(5)]
    assert [d.admitted for d in decisions] == [True, True, True, False, False]
    assert decisions[2].states == (
        QuotaState(key=SERVICE.key, policy=SERVICE.policy, limit=3, used=3, remaining=0),
    )
    assert decisions[3].violated == ("daily-population.get_citizen",)
    assert await store.usage(DAY) == {SERVICE.key: 3}


async def test_states_are_reported_after_the_decision(store: SqliteQuotaStore) -> None:
    decision = await store.acquire([CONSUMER, SERVICE], DAY)
    assert decision.admitted
    assert decision.violated == ()
    assert [(s.used, s.remaining) for s in decision.states] == [(1, 4), (1, 2)]


async def test_spent_consumer_quota_does_not_increment_service_counter(
    store: SqliteQuotaStore,
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
    store: SqliteQuotaStore,
) -> None:
    for _ in range(SERVICE.limit):
        await store.acquire([CONSUMER, SERVICE], DAY)
    decision = await store.acquire([CONSUMER, SERVICE], DAY)
    assert not decision.admitted
    assert decision.violated == ("daily-population.get_citizen",)
    assert await store.usage(DAY) == {CONSUMER.key: 3, SERVICE.key: 3}


async def test_usage_is_per_local_day(store: SqliteQuotaStore) -> None:
    for _ in range(SERVICE.limit):
        await store.acquire([SERVICE], DAY)
    assert not (await store.acquire([SERVICE], DAY)).admitted
    next_day = DAY + timedelta(days=1)
    assert (await store.acquire([SERVICE], next_day)).admitted
    assert await store.usage(next_day) == {SERVICE.key: 1}


async def test_concurrent_acquires_never_admit_more_than_the_limit(
    store: SqliteQuotaStore,
) -> None:
    rule = QuotaRule(key="onestop-ha-noi", policy="daily", limit=37)
    decisions = await asyncio.gather(*(store.acquire([rule], DAY) for _ in range(200)))
    assert sum(d.admitted for d in decisions) == 37
    assert await store.usage(DAY) == {"onestop-ha-noi": 37}


async def test_two_stores_on_one_file_share_the_limit_exactly(
    store: SqliteQuotaStore, make_store: Callable[[], SqliteQuotaStore]
) -> None:
    other = make_store()  # a second connection and thread: what a second worker has
    rule = QuotaRule(key="onestop-da-nang", policy="daily", limit=50)
    calls = [(store if i % 2 else other).acquire([rule], DAY) for i in range(200)]
    decisions = await asyncio.gather(*calls)
    assert sum(d.admitted for d in decisions) == 50


async def test_restart_keeps_the_days_usage(make_store: Callable[[], SqliteQuotaStore]) -> None:
    first = make_store()
    for _ in range(2):
        await first.acquire([SERVICE], DAY)
    await first.close()
    restarted = make_store()
    assert await restarted.usage(DAY) == {SERVICE.key: 2}
    decision = await restarted.acquire([SERVICE], DAY)
    assert decision.states[0].used == 3


def test_workers_opening_a_fresh_file_together_all_start(tmp_path: Path) -> None:
    # Switching a new file to WAL races between workers, and SQLite may refuse the loser
    # without calling the busy handler. A barrier lines the openers up; several rounds make
    # the race near certain without the retry.
    openers = 6

    def open_after(barrier: threading.Barrier, path: Path) -> list[str]:
        barrier.wait()
        conn = connect_sqlite(path, "CREATE TABLE IF NOT EXISTS t (x INTEGER);")
        try:
            return [row[0] for row in conn.execute("PRAGMA journal_mode")]
        finally:
            conn.close()

    with ThreadPoolExecutor(max_workers=openers) as pool:
        for round_ in range(20):
            barrier = threading.Barrier(openers)
            path = tmp_path / f"fresh-{round_}.db"
            modes = list(pool.map(open_after, [barrier] * openers, [path] * openers))
            assert modes == [["wal"]] * openers


async def test_acquire_with_no_rules_admits_without_state(store: SqliteQuotaStore) -> None:
    decision = await store.acquire([], DAY)
    assert decision == QuotaDecision(admitted=True, states=(), violated=())


async def test_duplicate_rule_keys_are_refused(store: SqliteQuotaStore) -> None:
    with pytest.raises(ValueError, match="distinct"):
        await store.acquire([SERVICE, SERVICE], DAY)


async def test_closed_store_refuses_calls(tmp_path: Path) -> None:
    closed = SqliteQuotaStore(tmp_path / "q.db")
    await closed.close()
    with pytest.raises(RuntimeError, match="closed"):
        await closed.usage(DAY)


# --- the store: overrides and admin reset ------------------------------------------------


async def test_override_applies_to_the_next_acquire(store: SqliteQuotaStore) -> None:
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


async def test_override_set_by_another_worker_applies_immediately(
    store: SqliteQuotaStore, make_store: Callable[[], SqliteQuotaStore]
) -> None:
    admin = make_store()
    await admin.set_override(SERVICE.key, 0)
    assert not (await store.acquire([SERVICE], DAY)).admitted


async def test_removing_an_override_restores_the_registry_limit(store: SqliteQuotaStore) -> None:
    await store.set_override(SERVICE.key, 10)
    await store.set_override(CONSUMER.key, 20)
    assert await store.overrides() == {SERVICE.key: 10, CONSUMER.key: 20}
    await store.set_override(SERVICE.key, None)
    assert await store.overrides() == {CONSUMER.key: 20}
    decision = await store.acquire([SERVICE], DAY)
    assert decision.states[0].limit == SERVICE.limit


async def test_negative_override_is_refused(store: SqliteQuotaStore) -> None:
    with pytest.raises(ValueError, match=">= 0"):
        await store.set_override(SERVICE.key, -1)


async def test_reset_zeroes_one_key_or_the_whole_day(store: SqliteQuotaStore) -> None:
    for _ in range(2):
        await store.acquire([CONSUMER, SERVICE], DAY)
    await store.acquire([SERVICE], DAY + timedelta(days=1))
    await store.reset(DAY, SERVICE.key)
    assert await store.usage(DAY) == {CONSUMER.key: 2}
    await store.reset(DAY)
    assert await store.usage(DAY) == {}
    assert await store.usage(DAY + timedelta(days=1)) == {SERVICE.key: 1}


# --- choosing a store --------------------------------------------------------------------


async def test_default_store_lives_in_the_state_dir(tmp_path: Path) -> None:
    quota_store = open_quota_store(None, tmp_path / "state")
    await quota_store.acquire([SERVICE], DAY)
    await quota_store.close()
    assert (tmp_path / "state" / "quotas.db").is_file()


@pytest.mark.parametrize(
    ("url", "relative"),
    [
        pytest.param("sqlite:///custom/q.db", "state/custom/q.db", id="relative-under-state-dir"),
        pytest.param("sqlite:///{tmp}/abs.db", "abs.db", id="absolute"),
    ],
)
async def test_sqlite_url_picks_the_file(tmp_path: Path, url: str, relative: str) -> None:
    quota_store = open_quota_store(url.format(tmp=tmp_path), tmp_path / "state")
    await quota_store.acquire([SERVICE], DAY)
    await quota_store.close()
    assert (tmp_path / relative).is_file()


def test_redis_url_is_not_implemented_yet(tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError, match="later issue"):
        open_quota_store("redis://localhost:6379/0", tmp_path)


def test_unknown_url_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        open_quota_store("memcached://localhost", tmp_path)


# --- RateLimit headers (draft-ietf-httpapi-ratelimit-headers-11) -------------------------


def _decision(admitted: bool, *states: QuotaState) -> QuotaDecision:
    violated = () if admitted else tuple(s.policy for s in states if s.remaining == 0)
    return QuotaDecision(admitted=admitted, states=states, violated=violated)


def test_ratelimit_headers_name_every_policy_and_the_tightest() -> None:
    decision = _decision(
        False,
        QuotaState("onestop-thanh-hoa", "daily", 200_000, used=1_234, remaining=198_766),
        QuotaState(
            "onestop-thanh-hoa|population.get_citizen",
            "daily-population.get_citizen",
            50_000,
            used=50_000,
            remaining=0,
        ),
    )
    now = utc(2025, 3, 14, 15, 58, 7)  # 22:58:07 local: 3713 s to midnight
    assert ratelimit_headers(decision, now) == {
        "RateLimit-Policy": '"daily";q=200000;w=86400, '
        '"daily-population.get_citizen";q=50000;w=86400',
        "RateLimit": '"daily-population.get_citizen";r=0;t=3713',
    }


def test_ratelimit_on_success_reports_fewest_remaining() -> None:
    decision = _decision(
        True,
        QuotaState("c", "daily", 100, used=95, remaining=5),
        QuotaState("c|s", "daily-s", 50, used=10, remaining=40),
    )
    headers = ratelimit_headers(decision, utc(2025, 3, 14, 16, 0, 0))
    assert headers["RateLimit"] == '"daily";r=5;t=3600'


def test_ratelimit_headers_escape_policy_names_as_sf_strings() -> None:
    decision = _decision(True, QuotaState("k", 'odd"name\\', 1, used=0, remaining=1))
    headers = ratelimit_headers(decision, utc(2025, 3, 14, 16, 0, 0))
    assert headers["RateLimit-Policy"] == '"odd\\"name\\\\";q=1;w=86400'


def test_no_quota_no_ratelimit_headers() -> None:
    assert ratelimit_headers(_decision(True), utc(2025, 3, 14, 16, 0, 0)) == {}
