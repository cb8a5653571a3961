"""The exchange log (nhật ký trao đổi): one record per exchange, written off the request path.

The request path only calls :meth:`ExchangeLog.submit`, an O(1) append to an in-memory queue.
A background writer drains the queue in batches (one ``executemany`` transaction per batch),
so logging costs the proxy almost nothing even at thousands of requests a second. A full queue
drops the record but counts it in ``dropped`` (exported as ``ndxp_exchange_log_dropped_total``)
and logs a warning: never lost silently. :meth:`ExchangeLog.close` drains everything first, so a
graceful shutdown loses nothing.

:class:`SqliteExchangeLog` is the embedded default; PostgreSQL will implement the same
interface. It uses the stdlib ``sqlite3`` on one dedicated writer thread rather than
``aiosqlite``: the writer is a loop that blocks between batches anyway, a plain thread needs no
event loop (``submit`` works from any thread), and reads open short-lived connections of their
own. WAL mode lets the admin API read while the writers write, and lets several uvicorn
workers (each with its own writer) append to one file.

Personal ids in free text (``detail``) are masked before they reach the disk.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import re
import sqlite3
import threading
from collections import deque
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol

import structlog
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.exchange import ExchangePage, ExchangeRecord

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

_log = structlog.get_logger(__name__)

_PERSONAL_ID = re.compile(r"(?<![0-9])(?:[0-9]{12}|[0-9]{9})(?![0-9])")


def _mask(match: re.Match[str]) -> str:
    digits = match.group()
    if len(digits) == 12:
        return digits[:3] + "*****" + digits[-4:]
    return "*****" + digits[-4:]


def mask_personal_ids(text: str) -> str:
    """Mask personal ids in free text, keeping the length.

    12-digit personal ids (*số định danh cá nhân*) keep the province code and the last four
    digits (``038090001234`` → ``038*****1234``); 9-digit old identity-card numbers (*CMND*)
    keep the last four (``*****6789``). Only whole runs of exactly 12 or 9 digits are masked,
    so phone numbers (10 digits) and longer numbers pass unchanged.
    """
    return _PERSONAL_ID.sub(_mask, text)


class ExchangeQuery(BaseModel):
    """Filters and paging for the admin API; every filter is optional.

    ``since`` (inclusive) and ``until`` (exclusive) apply to ``request_in_ts``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    consumer: str | None = None
    provider: str | None = None
    service: str | None = None
    outcome: str | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class ExchangeLog(Protocol):
    """Where exchange records go; SQLite now, PostgreSQL later."""

    async def start(self) -> None:
        """Create the schema and start the background writer."""
        ...

    def submit(self, record: ExchangeRecord) -> None:
        """Queue a record; never blocks, never raises (a full queue counts in ``dropped``)."""
        ...

    @property
    def dropped(self) -> int:
        """Records that were not stored: queue full, submitted after close, or unwritable."""
        ...

    async def flush(self) -> None:
        """Wait until every record submitted so far is on disk."""
        ...

    async def close(self) -> None:
        """Flush, then stop the writer; nothing submitted before ``close()`` is lost."""
        ...

    async def query(self, q: ExchangeQuery) -> ExchangePage:
        """Records matching ``q``, newest first, one page."""
        ...

    async def get(self, exchange_id: str) -> ExchangeRecord | None:
        """One record by id, or None."""
        ...

    def export(self, q: ExchangeQuery, fmt: Literal["jsonl", "csv"]) -> AsyncIterator[bytes]:
        """Every record matching ``q`` (limit and offset ignored), oldest first, in chunks."""
        ...


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
    f"INSERT OR IGNORE INTO exchange ({', '.join(FIELDS)}) "
    f"VALUES ({', '.join('?' * len(FIELDS))})"
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
