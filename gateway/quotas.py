"""Daily quotas (hạn mức hằng ngày) per consumer and per consumer × service.

The day is the local calendar day of Asia/Ho_Chi_Minh: quotas reset at local midnight, which is
17:00 UTC — not at 00:00 UTC as Kong's fixed windows do (Kong issue #2680).

Counting is exact: :meth:`QuotaStore.acquire` checks and increments every rule of a request in
one atomic step, all or nothing, across coroutines, threads and processes (several uvicorn
workers share one store). Kong's cluster policy increments asynchronously and over-admits under
load (Kong #2629, #3329, #5311); this store never does.

:class:`SqliteQuotaStore` is the embedded default. It uses the stdlib ``sqlite3`` on one
dedicated thread per store rather than ``aiosqlite``: ``acquire`` must be exactly one short
``BEGIN IMMEDIATE`` transaction on one connection, and owning the connection and its thread
keeps that explicit and avoids a second queueing layer. ``BEGIN IMMEDIATE`` takes SQLite's
write lock before reading the counters, so two processes can never both read "49 of 50" and
both admit; WAL with ``synchronous=NORMAL`` keeps each commit to a write without an fsync.

Header values follow draft-ietf-httpapi-ratelimit-headers-11 (Structured-Field lists
``RateLimit-Policy`` and ``RateLimit``); see ``research/anchors.md`` §5.
"""

from __future__ import annotations

import asyncio
import math
import random
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from time import monotonic, sleep
from typing import Literal, Protocol, TypeVar
from zoneinfo import ZoneInfo

from gateway.db_thread import DbThread

LOCAL_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FailurePolicy = Literal["closed", "open"]
DAY_WINDOW_S = 86_400
DEFAULT_FILE = "quotas.db"
BUSY_TIMEOUT_MS = 10_000

_T = TypeVar("_T")


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("a naive datetime has no day; pass an aware one (UTC or local)")


# The local day last asked about, as the POSIX seconds it spans [start, end): every exchange
# asks, and converting to the zone each time was measurable. One tuple: no torn read.
_last_day: tuple[float, float, date] = (0.0, -1.0, date.min)


def _local_day_of(now: datetime) -> tuple[date, float, float]:
    """``now``'s local day, the POSIX time of its end, and ``now``'s."""
    global _last_day
    _require_aware(now)
    at = now.timestamp()
    start, end, day = _last_day
    if not start <= at < end:
        day = now.astimezone(LOCAL_TZ).date()
        start = datetime.combine(day, time(0), LOCAL_TZ).timestamp()
        end = datetime.combine(day + timedelta(days=1), time(0), LOCAL_TZ).timestamp()
        _last_day = (start, end, day)
    return day, end, at


def local_day(now: datetime) -> date:
    """The Asia/Ho_Chi_Minh calendar day that ``now`` (aware) falls on: the quota day."""
    return _local_day_of(now)[0]


def seconds_until_local_midnight(now: datetime) -> int:
    """Whole seconds (rounded up, at least 1) until the next local midnight, the quota reset."""
    _, midnight, at = _local_day_of(now)
    return max(1, math.ceil(midnight - at))


def retry_after_seconds(now: datetime, rng: random.Random, max_jitter_s: int = 300) -> int:
    """``Retry-After`` for a spent daily quota: seconds to local midnight plus uniform jitter.

    The jitter spreads the provinces' retries over a few minutes after the reset instead of
    all of them arriving in the first second (the draft's thundering-herd advice).
    """
    if max_jitter_s < 0:
        raise ValueError("max_jitter_s must be >= 0")
    return seconds_until_local_midnight(now) + rng.randint(0, max_jitter_s)


@dataclass(frozen=True)
class QuotaRule:
    """One counter a request draws on, with its default daily limit from the registry.

    ``key`` is ``"<consumer>"`` (consumer-wide) or ``"<consumer>|<service>"``; ``policy`` is the
    name shown in the RateLimit headers (``"daily"`` or ``"daily-<service>"``). A runtime
    override stored under the same key replaces ``limit``.
    """

    key: str
    policy: str
    limit: int


@dataclass(frozen=True)
class QuotaState:
    """A counter after a decision, with the effective (override-aware) limit."""

    key: str
    policy: str
    limit: int
    used: int
    remaining: int


@dataclass(frozen=True)
class QuotaDecision:
    """The outcome of :meth:`QuotaStore.acquire`."""

    admitted: bool
    states: tuple[QuotaState, ...]
    violated: tuple[str, ...]


class QuotaStoreUnavailable(Exception):
    """The store's backend cannot be reached (Redis down); the failure policy decides.

    Raised by every method of a networked store; :mod:`gateway.quota_policy` turns it into
    an admission (policy ``open``) or a 503 ``quota_unavailable`` (policy ``closed``).
    """


class QuotaStore(Protocol):
    """Where daily usage and runtime limit overrides live: SQLite on one host
    (:class:`SqliteQuotaStore`) or Redis for several (:mod:`gateway.quotas_redis`).

    Every method may raise :class:`QuotaStoreUnavailable` when the backend cannot be reached.
    """

    async def acquire(self, rules: Sequence[QuotaRule], day: date) -> QuotaDecision:
        """Admit and count one request against every rule, or count nothing and reject.

        Atomic across coroutines, threads and processes; never admits more than a limit.
        """
        ...

    async def usage(self, day: date) -> dict[str, int]:
        """Used count per key on ``day``."""
        ...

    async def overrides(self) -> dict[str, int]:
        """Runtime limits per key, set through the admin API."""
        ...

    async def set_override(self, key: str, limit: int | None) -> None:
        """Replace the registry limit of ``key`` from the next acquire on; None removes it."""
        ...

    async def reset(self, day: date, key: str | None = None) -> None:
        """Zero the usage of ``day`` (one key, or all keys)."""
        ...

    async def close(self) -> None:
        """Release the store's resources."""
        ...


_SCHEMA = """
CREATE TABLE IF NOT EXISTS quota_usage (
    day  TEXT NOT NULL,
    key  TEXT NOT NULL,
    used INTEGER NOT NULL,
    PRIMARY KEY (day, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quota_override (
    key   TEXT PRIMARY KEY,
    "limit" INTEGER NOT NULL CHECK ("limit" >= 0)
) WITHOUT ROWID;
"""


def _sqlite_path_from_url(url: str, state_dir: Path, *, setting: str) -> Path:
    """The file of a ``sqlite:///<path>`` URL; a relative path is taken under ``state_dir``.

    Relative paths resolve under the state directory, not the working directory, so that all
    state stays in one place (DESIGN.md, "Defaults that must hold").
    """
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(f"{setting}: expected sqlite:///<path>, got {url!r}")
    path = Path(url.removeprefix(prefix))
    return path if path.is_absolute() else state_dir / path


def connect_sqlite(path: Path, schema: str) -> sqlite3.Connection:
    """Open ``path`` in WAL mode with ``schema`` created, for short shared write transactions.

    Shared with the exchange log's writer (one place for the SQLite setup of the gateway).

    Workers starting together on a fresh file race to switch it to WAL and create the tables;
    SQLite may answer "database is locked" there without calling the busy handler, so the
    setup is retried until ``BUSY_TIMEOUT_MS`` has passed.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    deadline = monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.002
    while True:
        # isolation_level=None: transactions are explicit (BEGIN IMMEDIATE / COMMIT).
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            # NORMAL in WAL: a commit is a write, not an fsync; a power cut may lose the last
            # few commits, never corrupt the file.
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.executescript(schema)
        except sqlite3.OperationalError as exc:
            conn.close()
            busy = exc.sqlite_errorcode & 0xFF in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
            if not busy or monotonic() > deadline:
                raise
            sleep(pause)  # a worker thread at startup, never the event loop
            pause = min(pause * 2, 0.1)
        else:
            return conn


class SqliteQuotaStore:
    """:class:`QuotaStore` on a SQLite file; a restart keeps the day's usage.

    Admissions are group-committed: the acquires that arrive while the store's thread is busy
    wait together and go to it in one hop, decided one after the other, in arrival order,
    inside one ``BEGIN IMMEDIATE`` transaction. Each decision is as exact as alone (the write
    lock is held from the first read to the commit), and under load the thread hop, the
    lock and the commit are paid once per batch instead of once per request. Nothing is
    answered before its batch is committed.
    """

    MAX_BATCH = 256

    def __init__(self, path: Path) -> None:
        self.path = path
        # One thread owns the connection: calls from many coroutines queue here, and SQLite's
        # write lock orders them against other processes.
        self._thread = DbThread(lambda: connect_sqlite(self.path, _SCHEMA), "ndxp-quota")
        self._closed = False
        self._closing = False
        self._waiting: list[_Pending] = []  # acquires not yet handed to the thread
        self._batch_running = False

    async def _run(self, fn: Callable[[sqlite3.Connection], _T]) -> _T:
        if self._closed:
            raise RuntimeError("the quota store is closed")
        return await self._thread.run(fn)

    async def acquire(self, rules: Sequence[QuotaRule], day: date) -> QuotaDecision:
        """See :meth:`QuotaStore.acquire`; one ``BEGIN IMMEDIATE`` transaction."""
        keys = [rule.key for rule in rules]
        if len(set(keys)) != len(keys):
            raise ValueError(f"quota rules must have distinct keys, got {keys}")
        if not rules:
            return QuotaDecision(admitted=True, states=(), violated=())
        if self._closing:
            raise RuntimeError("the quota store is closed")
        loop = asyncio.get_running_loop()
        pending = _Pending(tuple(rules), day.isoformat(), loop.create_future())
        self._waiting.append(pending)
        if not self._batch_running:
            self._batch_running = True
            loop.call_soon(self._next_batch, loop)  # take the acquires of this loop turn too
        return await pending.decision

    def _next_batch(self, loop: asyncio.AbstractEventLoop) -> None:
        batch = self._waiting[: self.MAX_BATCH]
        del self._waiting[: self.MAX_BATCH]
        if not batch:
            self._batch_running = False
            return
        if self._closing:
            for pending in batch:
                if not pending.decision.done():
                    pending.decision.set_exception(RuntimeError("the quota store is closed"))
            self._next_batch(loop)
            return
        self._thread.submit(
            loop,
            lambda conn: _acquire_batch(conn, batch),
            lambda decisions, error: self._batch_done(loop, batch, decisions, error),
        )

    def _batch_done(
        self,
        loop: asyncio.AbstractEventLoop,
        batch: list[_Pending],
        decisions: list[QuotaDecision] | None,
        error: BaseException | None,
    ) -> None:
        for n, pending in enumerate(batch):
            if pending.decision.done():  # its request was cancelled
                continue
            if error is not None or decisions is None:
                pending.decision.set_exception(error or RuntimeError("no decision"))
            else:
                pending.decision.set_result(decisions[n])
        self._next_batch(loop)

    async def usage(self, day: date) -> dict[str, int]:
        """See :meth:`QuotaStore.usage`."""
        rows = await self._run(
            lambda conn: conn.execute(
                "SELECT key, used FROM quota_usage WHERE day = ?", (day.isoformat(),)
            ).fetchall()
        )
        return dict(rows)

    async def overrides(self) -> dict[str, int]:
        """See :meth:`QuotaStore.overrides`."""
        rows = await self._run(
            lambda conn: conn.execute('SELECT key, "limit" FROM quota_override').fetchall()
        )
        return dict(rows)

    async def set_override(self, key: str, limit: int | None) -> None:
        """See :meth:`QuotaStore.set_override`; a negative limit is refused."""
        if limit is None:
            await self._run(
                lambda conn: conn.execute("DELETE FROM quota_override WHERE key = ?", (key,))
            )
            return
        if limit < 0:
            raise ValueError(f"a quota limit must be >= 0, got {limit}")
        await self._run(
            lambda conn: conn.execute(
                'INSERT INTO quota_override (key, "limit") VALUES (?, ?) '
                'ON CONFLICT (key) DO UPDATE SET "limit" = excluded."limit"',
                (key, limit),
            )
        )

    async def reset(self, day: date, key: str | None = None) -> None:
        """See :meth:`QuotaStore.reset`."""
        sql, params = "DELETE FROM quota_usage WHERE day = ?", [day.isoformat()]
        if key is not None:
            sql, params = sql + " AND key = ?", [*params, key]
        await self._run(lambda conn: conn.execute(sql, params))

    async def close(self) -> None:
        """Close the connection and stop the thread; idempotent."""
        if self._closed:
            return
        self._closing = True  # acquires not yet handed to the thread are refused
        await self._thread.close()
        self._closed = True


@dataclass(slots=True)
class _Pending:
    """One acquire waiting for its batch."""

    rules: tuple[QuotaRule, ...]
    day: str
    decision: asyncio.Future[QuotaDecision]


def _acquire_batch(conn: sqlite3.Connection, batch: Sequence[_Pending]) -> list[QuotaDecision]:
    """Decide every acquire of ``batch`` in order, in one transaction (all fail together)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        decisions = [_decide(conn, pending.rules, pending.day) for pending in batch]
        # Nothing written (every one refused): ending the transaction just releases the lock.
        conn.execute("COMMIT" if any(d.admitted for d in decisions) else "ROLLBACK")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    return decisions


def _decide(conn: sqlite3.Connection, rules: Sequence[QuotaRule], day: str) -> QuotaDecision:
    """Check and count one request (inside a transaction that holds the write lock)."""
    keys = [rule.key for rule in rules]
    marks = ",".join("?" * len(keys))
    used = dict(
        conn.execute(
            f"SELECT key, used FROM quota_usage WHERE day = ? AND key IN ({marks})",
            (day, *keys),
        ).fetchall()
    )
    overrides = dict(
        conn.execute(
            f'SELECT key, "limit" FROM quota_override WHERE key IN ({marks})', keys
        ).fetchall()
    )
    limits = {rule.key: overrides.get(rule.key, rule.limit) for rule in rules}
    violated = tuple(rule.policy for rule in rules if used.get(rule.key, 0) >= limits[rule.key])
    admitted = not violated
    if admitted:
        conn.executemany(
            "INSERT INTO quota_usage (day, key, used) VALUES (?, ?, 1) "
            "ON CONFLICT (day, key) DO UPDATE SET used = used + 1",
            [(day, key) for key in keys],
        )
    states = []
    for rule in rules:
        now_used = used.get(rule.key, 0) + (1 if admitted else 0)
        limit = limits[rule.key]
        states.append(
            QuotaState(
                key=rule.key,
                policy=rule.policy,
                limit=limit,
                used=now_used,
                remaining=max(0, limit - now_used),
            )
        )
    return QuotaDecision(admitted=admitted, states=tuple(states), violated=violated)


def open_quota_store(
    url: str | None,
    state_dir: Path,
    *,
    failure_policy: FailurePolicy = "closed",
    on_unmetered: Callable[[Sequence[QuotaRule]], None] | None = None,
) -> QuotaStore:
    """The store named by ``settings.gateway.quota_store_url``, under its failure policy.

    None means SQLite at ``state_dir/quotas.db``; ``sqlite:///<path>`` picks another file
    (a relative path is taken under ``state_dir``); ``redis://`` (``rediss://``, ``unix://``)
    the Redis store shared by several gateway instances. When the store cannot be reached,
    ``failure_policy`` applies (see :mod:`gateway.quota_policy`); ``on_unmetered`` is told
    of each admission made without counting (the metric).
    """
    from gateway.quota_policy import GuardedQuotaStore

    store: QuotaStore
    if url is None:
        store = SqliteQuotaStore(state_dir / DEFAULT_FILE)
    elif url.startswith(("redis://", "rediss://", "unix://")):
        from gateway.quotas_redis import RedisQuotaStore

        store = RedisQuotaStore(url)
    else:
        store = SqliteQuotaStore(_sqlite_path_from_url(url, state_dir, setting="quota_store_url"))
    return GuardedQuotaStore(store, failure_policy, on_unmetered)


def _sf_string(value: str) -> str:
    # RFC 8941 sf-string: printable ASCII, with backslash and double quote escaped.
    if not value.isascii() or not value.isprintable():
        raise ValueError(f"a RateLimit policy name must be printable ASCII: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def ratelimit_headers(decision: QuotaDecision, now: datetime) -> dict[str, str]:
    """``RateLimit-Policy`` (every policy) and ``RateLimit`` (the tightest) for a decision.

    Per draft-ietf-httpapi-ratelimit-headers-11, e.g.::

        RateLimit-Policy: "daily";q=200000;w=86400, "daily-population.get_citizen";q=50000;w=86400
        RateLimit: "daily-population.get_citizen";r=0;t=3713

    ``t`` is the seconds to local midnight, without jitter (the jitter goes in ``Retry-After``).
    No states, no headers.
    """
    if not decision.states:
        return {}
    policy = ", ".join(
        f"{_sf_string(state.policy)};q={state.limit};w={DAY_WINDOW_S}" for state in decision.states
    )
    # Tightest: fewest remaining; on a tie, the smaller quota tells the caller more.
    tightest = min(decision.states, key=lambda state: (state.remaining, state.limit))
    reset_in = seconds_until_local_midnight(now)
    return {
        "RateLimit-Policy": policy,
        "RateLimit": f"{_sf_string(tightest.policy)};r={tightest.remaining};t={reset_in}",
    }
