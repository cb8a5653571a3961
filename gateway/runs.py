"""Runs (*lượt chạy*): which scenario was in force when, so a report can be asked for "a run".

A run starts when the admin API switches the mocks to a scenario and ends at the next switch.
It keeps the scenario document as applied (seed and clock included): ``ndxp-sim report`` reads
the run's time range from here, the exchanges of that range from the exchange log, and ties
each injected fault back to its rule, failure mode and report rows through the document.

One small SQLite file under the state directory (``runs.db``), shared by every gateway worker;
a switch is one ``BEGIN IMMEDIATE`` transaction that closes the current run and opens the next.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sqlite3
from contextlib import closing
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from contracts.gateway import Run

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run (
    run_id TEXT PRIMARY KEY,
    scenario TEXT NOT NULL,
    title TEXT NOT NULL,
    seed INTEGER NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT,
    clock_at TEXT,
    failure_modes TEXT NOT NULL,
    document TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS run_started_at ON run (started_at);
"""
_COLUMNS = "run_id, scenario, title, seed, started_at, ended_at, clock_at, failure_modes, document"
_BUSY_TIMEOUT_S = 10.0


class RunStore:
    """Runs in ``<state_dir>/runs.db``; every method is safe from several processes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        with closing(self._connect()) as conn:
            conn.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        return sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)

    async def start(self, document: dict[str, Any], *, seed: int, clock_at: datetime | None) -> Run:
        """Close the current run and open one for ``document`` (a scenario as applied)."""
        return await asyncio.to_thread(self._start, document, seed, clock_at)

    async def recent(self, limit: int = 50) -> list[Run]:
        """The latest runs, newest first."""
        return await asyncio.to_thread(self._select, "ORDER BY started_at DESC LIMIT ?", limit)

    async def get(self, run_id: str) -> Run | None:
        """One run; ``latest`` names the newest."""
        if run_id == "latest":
            runs = await self.recent(1)
        else:
            runs = await asyncio.to_thread(self._select, "WHERE run_id = ?", run_id)
        return runs[0] if runs else None

    def _start(self, document: dict[str, Any], seed: int, clock_at: datetime | None) -> Run:
        now = datetime.now(UTC)
        scenario = str(document["id"])
        run = Run(
            run_id=f"{now:%Y%m%dT%H%M%S}-{scenario}-{secrets.token_hex(2)}",
            scenario=scenario,
            title=str(document.get("title", scenario)),
            seed=seed,
            started_at=now,
            ended_at=None,
            clock_at=clock_at,
            failure_modes=sorted(
                {r["failure_mode"] for r in document.get("rules", ()) if r.get("failure_mode")}
            ),
            document=document,
        )
        with closing(self._connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            try:
                conn.execute(
                    "UPDATE run SET ended_at = ? WHERE ended_at IS NULL", (now.isoformat(),)
                )
                conn.execute(
                    f"INSERT INTO run ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?, ?, ?)",
                    (
                        run.run_id,
                        run.scenario,
                        run.title,
                        run.seed,
                        now.isoformat(),
                        clock_at.isoformat() if clock_at else None,
                        json.dumps(run.failure_modes),
                        json.dumps(document, ensure_ascii=False),
                    ),
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        return run

    def _select(self, clause: str, *params: Any) -> list[Run]:
        with closing(self._connect()) as conn:
            rows = conn.execute(f"SELECT {_COLUMNS} FROM run {clause}", params).fetchall()
        return [_run(row) for row in rows]


def _run(row: tuple[Any, ...]) -> Run:
    run_id, scenario, title, seed, started, ended, clock_at, modes, document = row
    return Run(
        run_id=run_id,
        scenario=scenario,
        title=title,
        seed=seed,
        started_at=datetime.fromisoformat(started),
        ended_at=datetime.fromisoformat(ended) if ended else None,
        clock_at=datetime.fromisoformat(clock_at) if clock_at else None,
        failure_modes=json.loads(modes),
        document=json.loads(document),
    )
