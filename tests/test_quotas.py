"""Daily quotas: the local day, the store's exact all-or-nothing counting, the header values."""

from __future__ import annotations

import random
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from gateway.quota_policy import GuardedQuotaStore
from gateway.quotas import (
    LOCAL_TZ,
    QuotaDecision,
    QuotaState,
    connect_sqlite,
    local_day,
    open_quota_store,
    ratelimit_headers,
    retry_after_seconds,
    seconds_until_local_midnight,
)
from gateway.quotas_redis import RedisQuotaStore
from tests.quota_rules import DAY, SERVICE


def utc(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0, us: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, us, tzinfo=UTC)


def local(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=LOCAL_TZ)


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


# --- the SQLite store (behaviour common to every store: test_quota_store_conformance.py) --


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


async def test_redis_url_opens_the_redis_store_under_the_failure_policy(tmp_path: Path) -> None:
    quota_store = open_quota_store("redis://127.0.0.1:6379/0", tmp_path, failure_policy="open")
    try:
        assert isinstance(quota_store, GuardedQuotaStore)
        assert quota_store.policy == "open"
        assert isinstance(quota_store.store, RedisQuotaStore)
        assert quota_store.store.url == "redis://127.0.0.1:6379/0"
    finally:
        await quota_store.close()
    assert not (tmp_path / "quotas.db").exists()


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
