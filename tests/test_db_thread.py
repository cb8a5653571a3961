"""The quota store's SQLite thread: jobs in order, errors to the caller, close without opening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from gateway.db_thread import DbThread


async def test_jobs_run_in_order_on_one_connection(tmp_path: Path) -> None:
    opened: list[sqlite3.Connection] = []

    def connect() -> sqlite3.Connection:
        conn = sqlite3.connect(tmp_path / "x.db", check_same_thread=False)
        opened.append(conn)
        return conn

    thread = DbThread(connect, "test-db")
    await thread.run(lambda conn: conn.execute("CREATE TABLE t (n INTEGER)"))
    for n in range(5):
        await thread.run(lambda conn, n=n: conn.execute("INSERT INTO t VALUES (?)", (n,)))
    rows = await thread.run(lambda conn: conn.execute("SELECT n FROM t").fetchall())
    assert [n for (n,) in rows] == [0, 1, 2, 3, 4]
    assert len(opened) == 1
    await thread.close()


async def test_an_error_reaches_the_caller_and_the_thread_keeps_working(tmp_path: Path) -> None:
    thread = DbThread(lambda: sqlite3.connect(tmp_path / "x.db", check_same_thread=False), "t")
    with pytest.raises(sqlite3.OperationalError):
        await thread.run(lambda conn: conn.execute("SELECT * FROM missing"))
    assert await thread.run(lambda conn: conn.execute("SELECT 41 + 1").fetchone()) == (42,)
    await thread.close()


async def test_closing_an_unused_thread_opens_nothing(tmp_path: Path) -> None:
    thread = DbThread(lambda: sqlite3.connect(tmp_path / "never.db"), "t")
    await thread.close()
    assert not (tmp_path / "never.db").exists()
