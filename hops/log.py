"""A hop's exchange log: one SQLite file per hop under ``state_dir`` (``lgsp.sqlite3``...).

Small on purpose: a hop carries a province's calls, it does not meter or audit them (the
gateway's exchange log and journal do). Records are written in WAL mode, one short
transaction each, off the event loop; a write that fails is counted
(``ndxp_hop_log_errors_total``) and never fails the call it describes.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from datetime import UTC, datetime
from pathlib import Path

from contracts.hops import HopRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS hop_exchanges (
    exchange_id TEXT PRIMARY KEY,
    trace_id TEXT NOT NULL,
    request_in_ts TEXT NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS hop_exchanges_trace ON hop_exchanges (trace_id);
CREATE INDEX IF NOT EXISTS hop_exchanges_time ON hop_exchanges (request_in_ts);
"""


class HopLog:
    """Append and read back one hop's records."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def append(self, record: HopRecord) -> None:
        with self._lock:
            self._db.execute(
                "INSERT OR IGNORE INTO hop_exchanges VALUES (?, ?, ?, ?)",
                (
                    record.exchange_id,
                    record.trace_id,
                    _ts(record.request_in_ts),
                    record.model_dump_json(),
                ),
            )

    async def write(self, record: HopRecord) -> None:
        await asyncio.to_thread(self.append, record)

    def read(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        trace_id: str | None = None,
        limit: int = 10_000,
    ) -> list[HopRecord]:
        """Records in arrival order, filtered by time (``[since, until)``) and trace."""
        where, params = [], []
        if since is not None:
            where.append("request_in_ts >= ?")
            params.append(_ts(since))
        if until is not None:
            where.append("request_in_ts < ?")
            params.append(_ts(until))
        if trace_id is not None:
            where.append("trace_id = ?")
            params.append(trace_id)
        sql = "SELECT record FROM hop_exchanges"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY request_in_ts, exchange_id LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, (*params, limit)).fetchall()
        return [HopRecord.model_validate_json(row[0]) for row in rows]

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _ts(at: datetime) -> str:
    # ISO 8601 in UTC with a fixed width, so text order is time order (naive means UTC).
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
