"""The embedded exchange log: SQLite, batched writes on one writer thread (WAL mode).

A background writer drains the queue in batches (one ``executemany`` transaction per batch),
so logging costs the proxy almost nothing even at thousands of requests a second. It uses the
stdlib ``sqlite3`` on one dedicated writer thread rather than ``aiosqlite``: the writer is a
loop that blocks between batches anyway, a plain thread needs no event loop (``submit`` works
from any thread), and reads open short-lived connections of their own. WAL mode lets the admin
API read while the writers write, and lets several uvicorn workers (each with its own writer)
append to one file. The interface and its contract are in :mod:`gateway.exchange_log`.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import threading
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal, TypeVar

import structlog

from contracts.exchange import ExchangePage, ExchangeRecord
from gateway.exchange_log import ExchangeQuery, mask_personal_ids
from gateway.quotas import connect_sqlite

DEFAULT_FILE = "exchanges.db"
BUSY_TIMEOUT_MS = 10_000
# One column per ExchangeRecord field, in model order, so ops can query the file with plain SQL.
# Timestamps are fixed-width UTC text (sortable, readable); contract_violations is a JSON array.
_COLUMNS: dict[str, str] = {
    "exchange_id": "TEXT NOT NULL",
    "trace_id": "TEXT NOT NULL",
    "consumer": "TEXT",
    "provider": "TEXT",
    "service": "TEXT",
    "method": "TEXT NOT NULL",
    "path_template": "TEXT",
    "status_code": "INTEGER NOT NULL",
    "outcome": "TEXT NOT NULL",
    "succeeded": "INTEGER NOT NULL",
    "fault_code": "TEXT",
    "injected_fault": "TEXT",
    "request_in_ts": "TEXT NOT NULL",
    "request_out_ts": "TEXT",
    "response_in_ts": "TEXT",
    "response_out_ts": "TEXT NOT NULL",
    "duration_ms": "REAL NOT NULL",
    "upstream_ms": "REAL",
    "request_size": "INTEGER NOT NULL",
    "response_size": "INTEGER NOT NULL",
    "quota_remaining": "INTEGER",
    "contract_violations": "TEXT NOT NULL",
    "detail": "TEXT",
}
FIELDS: tuple[str, ...] = tuple(_COLUMNS)
_WRITE_ATTEMPTS = 5
_R = TypeVar("_R")
_log = structlog.get_logger(__name__)


_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS exchange (
    seq INTEGER PRIMARY KEY,
    {", ".join(f"{name} {kind}" for name, kind in _COLUMNS.items())},
    UNIQUE (exchange_id)
);
CREATE INDEX IF NOT EXISTS exchange_request_in_ts ON exchange (request_in_ts);
CREATE INDEX IF NOT EXISTS exchange_consumer ON exchange (consumer, request_in_ts);
CREATE INDEX IF NOT EXISTS exchange_provider ON exchange (provider, request_in_ts);
CREATE INDEX IF NOT EXISTS exchange_service ON exchange (service, request_in_ts);
CREATE INDEX IF NOT EXISTS exchange_outcome ON exchange (outcome, request_in_ts);
"""
_INSERT = (
    f"INSERT OR IGNORE INTO exchange ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})"
)
_SELECT = f"SELECT seq, {', '.join(FIELDS)} FROM exchange"


def _ts(value: datetime) -> str:
    # Fixed-width UTC text: sorts and compares as time in SQL, and stays readable in sqlite3.
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _to_row(record: ExchangeRecord) -> tuple[Any, ...]:
    row: list[Any] = []
    for name in FIELDS:
        value = getattr(record, name)
        if name == "detail" and value is not None:
            value = mask_personal_ids(value)
        elif name == "contract_violations":
            value = json.dumps(value)
        elif isinstance(value, datetime):
            value = _ts(value)
        row.append(value)
    return tuple(row)


def _from_row(row: Sequence[Any]) -> ExchangeRecord:
    data = dict(zip(FIELDS, row, strict=True))
    data["contract_violations"] = json.loads(data["contract_violations"])
    data["succeeded"] = bool(data["succeeded"])
    return ExchangeRecord.model_validate(data)


def _where(q: ExchangeQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    for name in ("consumer", "provider", "service", "outcome"):
        value = getattr(q, name)
        if value is not None:
            clauses.append(f"{name} = ?")
            params.append(value)
    if q.since is not None:
        clauses.append("request_in_ts >= ?")
        params.append(_ts(q.since))
    if q.until is not None:
        clauses.append("request_in_ts < ?")
        params.append(_ts(q.until))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params


def sqlite_path_from_url(url: str, state_dir: Path) -> Path:
    # Relative paths resolve under the state directory so that all state stays in one place.
    prefix = "sqlite:///"
    if not url.startswith(prefix) or len(url) == len(prefix):
        raise ValueError(f"exchange_log_url: expected sqlite:///<path>, got {url!r}")
    path = Path(url.removeprefix(prefix))
    return path if path.is_absolute() else state_dir / path


def _connect(path: Path) -> sqlite3.Connection:
    # For reads only (the writer's connection comes from connect_sqlite). isolation_level=None:
    # an explicit BEGIN gives a consistent read of count + page.
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None)
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return conn


def _resolve(fut: asyncio.Future[None], error: BaseException | None) -> None:
    if fut.done():  # the flush was cancelled meanwhile
        return
    if error is None:
        fut.set_result(None)
    else:
        fut.set_exception(error)


_Waiter = tuple[int, asyncio.AbstractEventLoop, "asyncio.Future[None]"]


class SqliteExchangeLog:
    """:class:`ExchangeLog` on a SQLite file in WAL mode, with a batching writer thread.

    Several processes may each run one on the same file: each writer takes SQLite's write lock
    for one short ``executemany`` per batch, waiting up to ``busy_timeout`` for the others.
    Reads (``query``, ``get``, ``export``) first flush this process's queue, so the admin API
    reads its own writes; records from other workers appear once their writers flush
    (every ``flush_interval_s``).
    """

    def __init__(
        self,
        path: Path,
        *,
        batch_size: int = 500,
        flush_interval_s: float = 0.05,
        max_queue: int = 100_000,
        export_chunk_rows: int = 1000,
    ) -> None:
        if batch_size < 1 or max_queue < 1 or export_chunk_rows < 1 or flush_interval_s <= 0:
            raise ValueError("batch_size, max_queue, export_chunk_rows, flush_interval_s: > 0")
        self.path = path
        self._batch_size = batch_size
        self._flush_interval_s = flush_interval_s
        self._max_queue = max_queue
        self._export_chunk_rows = export_chunk_rows
        self._queue: deque[ExchangeRecord] = deque()
        # Guards the counters, the queue-length check and the waiters; held for microseconds.
        self._lock = threading.Lock()
        self._submitted = 0  # records accepted into the queue, ever
        self._processed = 0  # records the writer is done with (written, or given up and dropped)
        self._dropped = 0
        self._waiters: list[_Waiter] = []
        self._wake = threading.Event()
        self._stopping = False
        self._closed = False
        self._writer_alive = False
        self._thread: threading.Thread | None = None

    @property
    def dropped(self) -> int:
        """Records not stored: queue full, submitted after close, or unwritable."""
        return self._dropped

    @property
    def backlog(self) -> int:
        """Records queued and not yet written."""
        return len(self._queue)

    async def start(self) -> None:
        """Create the schema and start the writer thread; idempotent."""
        if self._thread is not None:
            return
        if self._closed:
            raise RuntimeError("the exchange log is closed")
        conn = await asyncio.to_thread(connect_sqlite, self.path, _SCHEMA)
        if self._thread is not None:  # a concurrent start() won the race
            conn.close()
            return
        self._thread = threading.Thread(
            target=self._run_writer, args=(conn,), name="ndxp-exchange-log", daemon=True
        )
        self._writer_alive = True
        self._thread.start()

    def submit(self, record: ExchangeRecord) -> None:
        """Queue ``record`` for the writer: O(1), never blocks, never raises."""
        with self._lock:
            accepted = not self._closed and len(self._queue) < self._max_queue
            if accepted:
                self._queue.append(record)
                self._submitted += 1
                backlog = len(self._queue)
            else:
                self._dropped += 1
                dropped = self._dropped
        if accepted:
            # Wake the writer early once a full batch is waiting; otherwise it wakes on its
            # interval. is_set() is lock-free, so the common case costs nothing.
            if backlog >= self._batch_size and not self._wake.is_set():
                self._wake.set()
        elif dropped == 1 or dropped % 1000 == 0:
            # Rate-limited: an overloaded gateway must not also drown in its own warnings.
            _log.warning(
                "exchange_log_dropped",
                dropped_total=dropped,
                reason="closed" if self._closed else "queue_full",
                max_queue=self._max_queue,
            )

    async def flush(self) -> None:
        """Wait until every record submitted so far is on disk (or counted as dropped)."""
        loop = asyncio.get_running_loop()
        with self._lock:
            target = self._submitted
            if self._processed >= target:
                return
            if not self._writer_alive:
                raise RuntimeError("the exchange log writer is not running; call start() first")
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.append((target, loop, fut))
        self._wake.set()
        await fut

    async def close(self) -> None:
        """Refuse new records, write every queued one, stop the writer; idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            pending = len(self._queue)
        if self._thread is None:
            if not pending:
                return
            self._closed = False  # start() refuses a closed log; nothing can submit meanwhile
            await self.start()
            self._closed = True
        assert self._thread is not None
        self._stopping = True
        self._wake.set()
        await asyncio.to_thread(self._thread.join)
        with self._lock:
            lost = len(self._queue)
            self._queue.clear()
            self._dropped += lost
        if lost:
            _log.error("exchange_log_lost_on_close", lost=lost, dropped_total=self._dropped)

    async def query(self, q: ExchangeQuery) -> ExchangePage:
        """See :meth:`ExchangeLog.query`: newest first, with the total over all pages."""
        await self._before_read()
        where, params = _where(q)

        def run(conn: sqlite3.Connection) -> tuple[int, list[Any]]:
            conn.execute("BEGIN")  # one snapshot for the count and the page
            (total,) = conn.execute(f"SELECT count(*) FROM exchange{where}", params).fetchone()
            rows = conn.execute(
                f"{_SELECT}{where} ORDER BY request_in_ts DESC, seq DESC LIMIT ? OFFSET ?",
                [*params, q.limit, q.offset],
            ).fetchall()
            conn.execute("COMMIT")
            return total, rows

        total, rows = await asyncio.to_thread(self._read, run)
        return ExchangePage(
            items=[_from_row(row[1:]) for row in rows], total=total, limit=q.limit, offset=q.offset
        )

    async def get(self, exchange_id: str) -> ExchangeRecord | None:
        """See :meth:`ExchangeLog.get`."""
        await self._before_read()
        row = await asyncio.to_thread(
            self._read,
            lambda conn: conn.execute(
                f"{_SELECT} WHERE exchange_id = ?", (exchange_id,)
            ).fetchone(),
        )
        return None if row is None else _from_row(row[1:])

    async def export(self, q: ExchangeQuery, fmt: Literal["jsonl", "csv"]) -> AsyncIterator[bytes]:
        """See :meth:`ExchangeLog.export`: all matches, oldest first, one chunk per query.

        Chunks are read by keyset (``request_in_ts``, ``seq``), each in its own short read,
        so a long export never holds a snapshot that stops the WAL from being checkpointed.
        """
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"export format must be jsonl or csv, got {fmt!r}")
        await self._before_read()
        where, params = _where(q)
        joiner = " AND " if where else " WHERE "
        if fmt == "csv":
            yield _csv_bytes([list(FIELDS)])
        after: tuple[str, int] | None = None
        while True:
            chunk, after, count = await asyncio.to_thread(
                self._read,
                partial(self._export_chunk, where, joiner, params, after, fmt),
            )
            if chunk:
                yield chunk
            if count < self._export_chunk_rows:
                return

    def _export_chunk(
        self,
        where: str,
        joiner: str,
        params: list[Any],
        after: tuple[str, int] | None,
        fmt: str,
        conn: sqlite3.Connection,
    ) -> tuple[bytes, tuple[str, int] | None, int]:
        sql, args = f"{_SELECT}{where}", list(params)
        if after is not None:
            sql += f"{joiner}(request_in_ts, seq) > (?, ?)"
            args += after
        sql += " ORDER BY request_in_ts, seq LIMIT ?"
        rows = conn.execute(sql, [*args, self._export_chunk_rows]).fetchall()
        if not rows:
            return b"", after, 0
        records = [_from_row(row[1:]) for row in rows]
        if fmt == "jsonl":
            body = b"".join(record.model_dump_json().encode() + b"\n" for record in records)
        else:
            body = _csv_bytes(_csv_cells(record) for record in records)
        last = rows[-1]
        return body, (last[1 + FIELDS.index("request_in_ts")], last[0]), len(rows)

    async def _before_read(self) -> None:
        if not self._writer_alive and self._thread is None:
            # Reads need the schema; start() creates it (and the writer, which costs nothing idle).
            await self.start()
        await self.flush()

    def _read(self, fn: Callable[[sqlite3.Connection], _R]) -> _R:
        # A short-lived connection per read: admin reads are rare, and a fresh connection can
        # run in any worker thread.
        conn = _connect(self.path)
        try:
            conn.execute("PRAGMA query_only = ON")
            return fn(conn)
        finally:
            conn.close()

    def _run_writer(self, conn: sqlite3.Connection) -> None:
        error: BaseException | None = None
        try:
            while True:
                self._wake.wait(self._flush_interval_s)
                self._wake.clear()
                while self._write_one_batch(conn):
                    self._notify_waiters(None)
                if self._stopping and not self._queue:
                    return
        except BaseException as exc:  # a bug here must fail flush(), not hang it
            error = exc
            _log.exception("exchange_log_writer_crashed")
        finally:
            conn.close()
            with self._lock:
                self._writer_alive = False
            self._notify_waiters(error, everyone=True)

    def _write_one_batch(self, conn: sqlite3.Connection) -> bool:
        batch: list[ExchangeRecord] = []
        while len(batch) < self._batch_size:
            try:
                batch.append(self._queue.popleft())
            except IndexError:
                break
        if not batch:
            return False
        rows = []
        for record in batch:
            try:
                rows.append(_to_row(record))
            except Exception:  # one malformed record (model_construct) must not stop the log
                _log.exception(
                    "exchange_log_record_unwritable",
                    exchange_id=getattr(record, "exchange_id", None),
                )
        written = self._insert(conn, rows) if rows else 0
        with self._lock:
            self._processed += len(batch)
            self._dropped += len(batch) - written
        return True

    def _insert(self, conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> int:
        """Insert one batch, retrying a few times; the number of rows given up on is logged."""
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_INSERT, rows)
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                _log.warning("exchange_log_write_failed", attempt=attempt, error=str(exc))
                # Back off in the writer thread only: the request path never waits on this.
                self._wake.wait(0.1 * attempt)
            else:
                return len(rows)
        _log.error("exchange_log_batch_dropped", records=len(rows))
        return 0

    def _notify_waiters(self, error: BaseException | None, *, everyone: bool = False) -> None:
        with self._lock:
            processed = self._processed
            done = [w for w in self._waiters if everyone or w[0] <= processed]
            self._waiters = [w for w in self._waiters if not everyone and w[0] > processed]
        for target, loop, fut in done:
            failure = error
            if failure is None and target > processed:
                failure = RuntimeError("the exchange log writer stopped before the flush completed")
            try:
                loop.call_soon_threadsafe(_resolve, fut, failure)
            except RuntimeError:  # that event loop is closed; nobody is waiting any more
                continue


def _csv_cells(record: ExchangeRecord) -> list[str]:
    data = record.model_dump(mode="json")
    cells: list[str] = []
    for name in FIELDS:
        value = data[name]
        if value is None:
            cells.append("")
        elif isinstance(value, bool):
            cells.append("true" if value else "false")
        elif isinstance(value, list):
            cells.append(";".join(value))
        else:
            cells.append(str(value))
    return cells


def _csv_bytes(rows: Iterable[list[str]]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\r\n").writerows(rows)
    return buffer.getvalue().encode()
