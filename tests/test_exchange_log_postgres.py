"""What only the PostgreSQL store has: its schema and migrations, and PostgreSQL going away.

The behaviour it shares with SQLite is in test_record_store_conformance.py. Outages use a
private PostgreSQL cluster (initdb in a temporary directory, a free port), never the shared one.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psycopg
import pytest
from structlog.testing import capture_logs

from gateway.exchange_log import ExchangeQuery
from gateway.exchange_log_postgres import PostgresRecordStore
from gateway.journal import JOURNAL_DIR, JournaledExchangeLog
from ndxp_config.settings import JournalSettings
from ndxp_sim.private_servers import PrivatePostgres, private_postgres, require_postgres
from tests.test_record_store_conformance import record


@pytest.fixture
async def schema_url() -> AsyncIterator[str]:
    base = require_postgres()
    url = base + ("&" if "?" in base else "?") + f"schema=ndxp_test_{uuid.uuid4().hex[:12]}"
    yield url
    await PostgresRecordStore(url).drop_schema()


@pytest.fixture(scope="module")
def server() -> Iterator[PrivatePostgres]:
    """One private cluster for the module's outage tests (initdb costs a second or two)."""
    with private_postgres() as private:
        yield private


async def test_start_up_creates_the_schema_with_an_index_for_every_admin_filter(
    schema_url: str,
) -> None:
    store = PostgresRecordStore(schema_url)
    await store.open()
    await store.close()
    async with await psycopg.AsyncConnection.connect(store.url) as conn:
        cur = await conn.execute(
            "SELECT indexdef FROM pg_indexes WHERE schemaname = %s AND tablename = 'exchange'",
            (store.schema,),
        )
        indexes = [row[0] for row in await cur.fetchall()]
        cur = await conn.execute(f"SELECT version FROM {store.schema}.schema_version")
        versions = [row[0] for row in await cur.fetchall()]
    for column in ("consumer", "provider", "service", "outcome"):
        assert any(f"({column}, request_in_ts)" in index for index in indexes), column
    assert any("(request_in_ts, seq)" in index for index in indexes)
    assert any("(exchange_id)" in index and "UNIQUE" in index for index in indexes)
    assert versions == [1]


async def test_workers_starting_together_migrate_once(schema_url: str) -> None:
    stores = [PostgresRecordStore(schema_url) for _ in range(6)]
    with capture_logs() as logs:
        await asyncio.gather(*(store.open() for store in stores))
    await asyncio.gather(*(store.close() for store in stores))
    assert [e["event"] for e in logs].count("exchange_log_schema_migrated") == 1


async def test_down_at_start_up_the_first_write_after_it_returns_makes_the_schema(
    server: PrivatePostgres,
) -> None:
    url = server.url + f"?schema=s_{uuid.uuid4().hex[:8]}"
    server.stop()
    store = PostgresRecordStore(url)
    try:
        with capture_logs() as logs:
            await store.open()  # the gateway starts anyway
        assert logs[0]["event"] == "exchange_log_store_unavailable"
        with pytest.raises(psycopg.OperationalError):
            await store.write([record(1)])
        server.start()
        await store.write([record(1)])
        assert await store.get(record(1).exchange_id) == record(1)
    finally:
        if not (server.data / "postmaster.pid").exists():
            server.start()  # the next test expects it up
        await store.close()


async def test_a_write_after_a_restart_reconnects(server: PrivatePostgres) -> None:
    store = PostgresRecordStore(server.url + f"?schema=s_{uuid.uuid4().hex[:8]}")
    await store.open()
    try:
        await store.write([record(1)])
        server.stop()
        with pytest.raises(psycopg.OperationalError):
            await store.write([record(2)])
        server.start()
        await store.write([record(2)])  # the same store object: no gateway restart
        assert (await store.query(ExchangeQuery())).total == 2
    finally:
        await store.close()


async def test_records_wait_in_the_journal_while_postgres_is_down_then_all_arrive(
    server: PrivatePostgres, tmp_path: Path
) -> None:
    store = PostgresRecordStore(server.url + f"?schema=s_{uuid.uuid4().hex[:8]}")
    log = JournaledExchangeLog(
        store, tmp_path / JOURNAL_DIR, JournalSettings(batch_size=50, flush_interval_s=0.01)
    )
    await log.start()
    try:
        for i in range(100):
            log.submit(record(i))
        await log.flush()
        server.stop()
        for i in range(100, 300):
            log.submit(record(i))  # never blocks, never raises: the journal holds them
        assert log.dropped == 0
        assert any((tmp_path / JOURNAL_DIR).glob("*.jsonl"))
        server.start()
        await log.flush(timeout_s=60)
        assert (await log.query(ExchangeQuery(limit=1))).total == 300
        assert log.dropped == 0
    finally:
        await log.close()
