"""The embedded exchange log store: SQLite in WAL mode, one ``executemany`` per batch.

:class:`SqliteRecordStore` is the :class:`gateway.exchange_log.RecordStore` behind the
journal (:mod:`gateway.journal`): the request path appends to the journal, and the journal's
drainer hands this store batches of records. It uses the stdlib ``sqlite3`` in worker threads
rather than ``aiosqlite``: one writer connection, and short-lived connections for reads. WAL
mode lets the admin API read while the writers write, and lets several uvicorn workers (each
with its own journal and drainer) append to one file.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
import threading
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
    # Records are UTC already (UtcTimestamp); isoformat gives the text of
    # strftime("%Y-%m-%dT%H:%M:%S.%fZ") a little cheaper (this runs 4 times per record).
    utc = value if value.tzinfo is UTC else value.astimezone(UTC)
    return utc.isoformat(timespec="microseconds")[:-6] + "Z"


def _to_row(record: ExchangeRecord) -> tuple[Any, ...]:
    # One pass over the model's own dict (no getattr per field): this runs once per record.
    row: list[Any] = []
    for name, value in record.__dict__.items():
        if isinstance(value, datetime):
            value = _ts(value)
        elif isinstance(value, list):  # contract_violations
            value = json.dumps(value) if value else "[]"
        elif name == "detail" and value is not None:
            value = mask_personal_ids(value)
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


class SqliteRecordStore:
    """:class:`gateway.exchange_log.RecordStore` on a SQLite file in WAL mode.

    Several processes may each open one on the same file: a ``write`` takes SQLite's write
    lock for one short ``executemany`` transaction, waiting up to ``busy_timeout`` for the
    others; ``INSERT OR IGNORE`` on the unique ``exchange_id`` makes a replayed batch a no-op.
    Writes run on one connection in a worker thread (never on the event loop); reads open
    short-lived connections of their own, so the admin API reads while the writers write.
    """

    def __init__(self, path: Path, *, export_chunk_rows: int = 1000) -> None:
        if export_chunk_rows < 1:
            raise ValueError("export_chunk_rows: > 0")
        self.path = path
        self._export_chunk_rows = export_chunk_rows
        self._conn: sqlite3.Connection | None = None
        # One writer transaction at a time on the shared connection (threads of to_thread).
        self._write_lock = threading.Lock()

    async def open(self) -> None:
        """Create the schema (WAL mode) and the writer connection; idempotent."""
        if self._conn is None:
            conn = await asyncio.to_thread(connect_sqlite, self.path, _SCHEMA)
            if self._conn is None:
                self._conn = conn
            else:  # a concurrent open() won the race
                conn.close()

    async def write(self, records: Sequence[ExchangeRecord]) -> None:
        """Insert ``records`` in one transaction; ids already stored are skipped."""
        if not records:
            return
        if self._conn is None:
            await self.open()
        await asyncio.to_thread(self._insert, records)

    def _insert(self, records: Sequence[ExchangeRecord]) -> None:
        # Rows are made here, in the worker thread: the event loop only hands the batch over.
        rows = [_to_row(record) for record in records]
        conn = self._conn
        if conn is None:
            raise RuntimeError("the SQLite record store is closed")
        with self._write_lock:
            try:
                conn.execute("BEGIN IMMEDIATE")
                conn.executemany(_INSERT, rows)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

    async def close(self) -> None:
        """Close the writer connection; idempotent."""
        conn, self._conn = self._conn, None
        if conn is not None:
            with self._write_lock:
                conn.close()

    async def query(self, q: ExchangeQuery) -> ExchangePage:
        """See :meth:`RecordStore.query`: newest first, with the total over all pages."""
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

        total, rows = await self._read(run)
        return ExchangePage(
            items=[_from_row(row[1:]) for row in rows], total=total, limit=q.limit, offset=q.offset
        )

    async def get(self, exchange_id: str) -> ExchangeRecord | None:
        """See :meth:`RecordStore.get`."""
        row = await self._read(
            lambda conn: conn.execute(
                f"{_SELECT} WHERE exchange_id = ?", (exchange_id,)
            ).fetchone(),
        )
        return None if row is None else _from_row(row[1:])

    async def export(self, q: ExchangeQuery, fmt: Literal["jsonl", "csv"]) -> AsyncIterator[bytes]:
        """See :meth:`RecordStore.export`: all matches, oldest first, one chunk per query.

        Chunks are read by keyset (``request_in_ts``, ``seq``), each in its own short read,
        so a long export never holds a snapshot that stops the WAL from being checkpointed.
        """
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"export format must be jsonl or csv, got {fmt!r}")
        where, params = _where(q)
        joiner = " AND " if where else " WHERE "
        if fmt == "csv":
            yield _csv_bytes([list(FIELDS)])
        after: tuple[str, int] | None = None
        while True:
            chunk, after, count = await self._read(
                partial(self._export_chunk, where, joiner, params, after, fmt)
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

    async def _read(self, fn: Callable[[sqlite3.Connection], _R]) -> _R:
        if self._conn is None:
            await self.open()  # reads need the schema
        return await asyncio.to_thread(self._read_sync, fn)

    def _read_sync(self, fn: Callable[[sqlite3.Connection], _R]) -> _R:
        # A short-lived connection per read: admin reads are rare, and a fresh connection can
        # run in any worker thread.
        conn = _connect(self.path)
        try:
            conn.execute("PRAGMA query_only = ON")
            return fn(conn)
        finally:
            conn.close()


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
