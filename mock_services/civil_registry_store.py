"""The civil registry's stored records (*sổ hộ tịch*): one row per submission, in SQLite.

Storage is one SQLite file under ``settings.state_dir``. Only what a submission cannot derive
is stored: the body as received, when it arrived and the lifecycle time scale then in force.
The database, not the handler, enforces idempotency: ``UNIQUE(province_code, dossier_code)``
with ``INSERT ... ON CONFLICT DO NOTHING``, so concurrent repeats — threads of one worker or
several processes — leave exactly one row.

Everything else — the registration id, the lifecycle and the status changes — is derived from a
row and the seed, in :mod:`mock_services.civil_registry_lifecycle`.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

_SCHEMA = """
CREATE TABLE IF NOT EXISTS registration (
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL,
    province_code TEXT    NOT NULL,
    dossier_code  TEXT    NOT NULL,
    body          TEXT    NOT NULL,
    submitted_us  INTEGER NOT NULL,
    minute_s      REAL    NOT NULL,
    settled_us    INTEGER NOT NULL,
    UNIQUE (province_code, dossier_code)
);
CREATE INDEX IF NOT EXISTS registration_window ON registration (settled_us, submitted_us);
"""
# Writers queue behind one another; a wait longer than this is an error, not a hang.
_BUSY_TIMEOUT_S = 30.0
_COLUMNS = "seq, kind, province_code, dossier_code, body, submitted_us, minute_s"


@dataclass(frozen=True, slots=True)
class StoredRegistration:
    """A row: ``seq`` is the dense insertion number every derived id is keyed on."""

    seq: int
    kind: str
    province_code: str
    dossier_code: str
    body: str
    submitted_us: int  # microseconds since the Unix epoch (UTC)
    minute_s: float  # wall seconds per simulated minute when it was submitted


class RegistrationStore:
    """Registrations in a SQLite file; safe across threads and processes (WAL, busy timeout)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._ready = False
        self._init_lock = threading.Lock()

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self._ensure_schema()
        # A connection per call: sqlite3 connections must not cross threads, and opening a
        # local file costs microseconds next to a request.
        conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
        try:
            yield conn
        finally:
            conn.close()

    def _ensure_schema(self) -> None:
        # Lazily, so building the app (e.g. to publish its OpenAPI) writes no file.
        if self._ready:
            return
        with self._init_lock:
            if self._ready:
                return
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode=WAL")
                conn.executescript(_SCHEMA)
            finally:
                conn.close()
            self._ready = True

    def submit(
        self,
        *,
        kind: str,
        province_code: str,
        dossier_code: str,
        body: str,
        submitted_us: int,
        minute_s: float,
        settled_us: Callable[[StoredRegistration], int],
    ) -> tuple[StoredRegistration, bool]:
        """Insert unless ``(province_code, dossier_code)`` exists; the row and whether it is new.

        ``settled_us(row)`` gives the time of a new row's last transition (it depends on the
        id, hence on ``seq``), so status-change queries can skip settled registrations.
        """
        with self._connect() as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                cursor = conn.execute(
                    "INSERT INTO registration (kind, province_code, dossier_code, body, "
                    "submitted_us, minute_s, settled_us) VALUES (?, ?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (province_code, dossier_code) DO NOTHING",
                    (kind, province_code, dossier_code, body, submitted_us, minute_s, 0),
                )
                created = cursor.rowcount == 1
                if created:
                    new = StoredRegistration(
                        cursor.lastrowid or 0,
                        kind,
                        province_code,
                        dossier_code,
                        body,
                        submitted_us,
                        minute_s,
                    )
                    conn.execute(
                        "UPDATE registration SET settled_us = ? WHERE seq = ?",
                        (settled_us(new), new.seq),
                    )
                row = conn.execute(
                    f"SELECT {_COLUMNS} FROM registration "
                    "WHERE province_code = ? AND dossier_code = ?",
                    (province_code, dossier_code),
                ).fetchone()
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
        return StoredRegistration(*row), created

    def get(self, seq: int) -> StoredRegistration | None:
        with self._connect() as conn:
            row = conn.execute(
                f"SELECT {_COLUMNS} FROM registration WHERE seq = ?", (seq,)
            ).fetchone()
        return StoredRegistration(*row) if row else None

    def changing_between(
        self, start_us: int, end_us: int, province_code: str | None
    ) -> list[StoredRegistration]:
        """Rows that may have a transition in ``[start_us, end_us]``, in insertion order."""
        sql = (
            f"SELECT {_COLUMNS} FROM registration WHERE settled_us >= ? AND submitted_us <= ?"
            + (" AND province_code = ?" if province_code else "")
            + " ORDER BY seq"
        )
        params: tuple[object, ...] = (start_us, end_us)
        if province_code:
            params += (province_code,)
        with self._connect() as conn:
            rows = conn.execute(sql, params).fetchall()
        return [StoredRegistration(*row) for row in rows]

    def count(self, province_code: str | None = None, dossier_code: str | None = None) -> int:
        """How many rows (optionally of one dossier code): what idempotency tests look at."""
        sql, params = "SELECT COUNT(*) FROM registration WHERE 1 = 1", list[str]()
        if province_code is not None:
            sql, params = sql + " AND province_code = ?", [*params, province_code]
        if dossier_code is not None:
            sql, params = sql + " AND dossier_code = ?", [*params, dossier_code]
        with self._connect() as conn:
            (total,) = conn.execute(sql, params).fetchone()
        return int(total)


__all__ = ["RegistrationStore", "StoredRegistration"]
