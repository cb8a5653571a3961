"""Every exchange-log store behaviour, run against both stores: SQLite and PostgreSQL.

Each test gets a ``make_store`` factory whose stores share one backend — one SQLite file, or one
PostgreSQL schema of this test's own on the machine's shared server (``NDXP_TEST_POSTGRES_URL``),
dropped afterwards — so "another store" is a second worker or a second gateway instance. The
journal in front of each store (what the gateway runs) is exercised at the end. Without
PostgreSQL these tests fail; they never skip.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from contracts.exchange import ExchangeRecord
from gateway.exchange_log import ExchangeQuery, RecordStore, open_record_store
from gateway.exchange_log_postgres import PostgresRecordStore
from gateway.exchange_log_sqlite import FIELDS, SqliteRecordStore
from gateway.journal import JOURNAL_DIR, JournaledExchangeLog
from ndxp_config.settings import JournalSettings
from ndxp_sim.private_servers import require_postgres
from tests.records import T0, record

MakeStore = Callable[..., RecordStore]


def pg_url(schema: str) -> str:
    base = require_postgres()
    return base + ("&" if "?" in base else "?") + f"schema={schema}"


@pytest.fixture(params=["sqlite", "postgresql"])
async def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[MakeStore]:
    made: list[RecordStore] = []
    schema = f"ndxp_test_{uuid.uuid4().hex[:12]}"

    def make(export_chunk_rows: int = 1000) -> RecordStore:
        store: RecordStore
        if request.param == "sqlite":
            store = SqliteRecordStore(
                tmp_path / "exchanges.db", export_chunk_rows=export_chunk_rows
            )
        else:
            store = PostgresRecordStore(pg_url(schema), export_chunk_rows=export_chunk_rows)
        made.append(store)
        return store

    yield make
    for store in made:
        await store.close()
    if request.param == "postgresql":
        await PostgresRecordStore(pg_url(schema)).drop_schema()


@pytest.fixture
async def store(make_store: MakeStore) -> RecordStore:
    opened = make_store()
    await opened.open()
    return opened


async def everything(store: RecordStore) -> list[ExchangeRecord]:
    return (await store.query(ExchangeQuery(limit=1000))).items


async def collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


# --- writing -----------------------------------------------------------------------------


async def test_get_returns_the_record_as_written(store: RecordStore) -> None:
    written = record(1, contract_violations=["full_name", "address.ward"], fault_code="x")
    await store.write([written, record(2)])
    assert await store.get(written.exchange_id) == written
    assert await store.get("0" * 32 + "nope") is None


async def test_times_come_back_in_utc_to_the_microsecond(store: RecordStore) -> None:
    local = datetime(2025, 3, 14, 23, 59, 59, 999_999, tzinfo=UTC).astimezone(
        __import__("zoneinfo").ZoneInfo("Asia/Ho_Chi_Minh")
    )
    written = record(1, request_in_ts=local, response_out_ts=local + timedelta(microseconds=1))
    await store.write([written])
    got = await store.get(written.exchange_id)
    assert got is not None
    assert got.request_in_ts == local
    assert got.request_in_ts.tzinfo == UTC
    assert got.response_out_ts - got.request_in_ts == timedelta(microseconds=1)


async def test_write_is_idempotent_on_exchange_id(store: RecordStore) -> None:
    batch = [record(i) for i in range(5)]
    await store.write(batch)
    await store.write(batch)  # a replay after a crash
    await store.write([record(3, outcome="changed"), record(5), record(5)])
    stored = await everything(store)
    assert len(stored) == 6
    assert (await store.get(record(3).exchange_id)) == record(3)  # the first write stands


async def test_empty_write_is_a_no_op(store: RecordStore) -> None:
    await store.write([])
    assert await everything(store) == []


async def test_two_stores_on_one_backend_lose_nothing(make_store: MakeStore) -> None:
    first, second = make_store(), make_store()
    await asyncio.gather(first.open(), second.open())  # schema made once, no race
    await asyncio.gather(
        *(
            (first if n % 2 else second).write([record(n * 50 + i) for i in range(50)])
            for n in range(8)
        )
    )
    assert (await first.query(ExchangeQuery(limit=1))).total == 400


async def test_a_reopened_store_reads_what_was_written(make_store: MakeStore) -> None:
    first = make_store()
    await first.open()
    await first.write([record(1)])
    await first.close()
    again = make_store()
    await again.open()  # the schema exists: nothing to migrate, nothing lost
    assert [r.exchange_id for r in await everything(again)] == [record(1).exchange_id]


async def test_personal_ids_in_detail_are_masked_in_the_store(store: RecordStore) -> None:
    await store.write([record(1, detail="citizen 038090001234 / CMND 123456789 / 0912345678")])
    got = await store.get(record(1).exchange_id)
    assert got is not None
    assert got.detail == "citizen 038*****1234 / CMND *****6789 / 0912345678"


# --- reading: filters, pages, exports ----------------------------------------------------


async def test_query_filters_each_admin_filter_and_the_time_window(store: RecordStore) -> None:
    await store.write(
        [
            record(0),
            record(1, consumer="onestop-ha-noi"),
            record(2, provider="civil-registry", service="civil-registry.get_registration"),
            record(3, outcome="upstream_timeout", succeeded=False, status_code=504),
            record(4),
        ]
    )
    cases: list[tuple[dict[str, Any], list[int]]] = [
        ({"consumer": "onestop-ha-noi"}, [1]),
        ({"provider": "civil-registry"}, [2]),
        ({"service": "population.get_citizen", "consumer": "onestop-thanh-hoa"}, [4, 3, 0]),
        ({"outcome": "upstream_timeout"}, [3]),
        ({"since": T0 + timedelta(seconds=1), "until": T0 + timedelta(seconds=3)}, [2, 1]),
    ]
    for filters, expected in cases:
        page = await store.query(ExchangeQuery(**filters))
        assert [r.exchange_id for r in page.items] == [record(i).exchange_id for i in expected]
        assert page.total == len(expected)


async def test_query_pages_newest_first_with_the_total(store: RecordStore) -> None:
    await store.write([record(i) for i in range(25)])
    page = await store.query(ExchangeQuery(limit=10, offset=10))
    assert page.total == 25
    assert [r.exchange_id for r in page.items] == [record(i).exchange_id for i in range(14, 4, -1)]


async def test_export_jsonl_streams_every_match_oldest_first_in_chunks(
    make_store: MakeStore,
) -> None:
    store = make_store(export_chunk_rows=7)
    await store.open()
    await store.write([record(i, consumer="onestop-hue" if i % 3 else None) for i in range(30)])
    chunks = [
        c async for c in store.export(ExchangeQuery(consumer="onestop-hue", limit=1), "jsonl")
    ]
    assert len(chunks) == 3  # 20 matches in chunks of 7: a chunk per query
    lines = b"".join(chunks).splitlines()
    ids = [json.loads(line)["exchange_id"] for line in lines]
    assert ids == [record(i).exchange_id for i in range(30) if i % 3]


async def test_export_csv_has_a_header_and_joins_lists(store: RecordStore) -> None:
    await store.write([record(1, contract_violations=["a", "b"])])
    text = (await collect(store.export(ExchangeQuery(), "csv"))).decode()
    header, row = text.splitlines()
    assert header.split(",") == list(FIELDS)
    assert ",a;b," in row


async def test_export_of_nothing_is_empty_or_just_the_header(store: RecordStore) -> None:
    assert await collect(store.export(ExchangeQuery(), "jsonl")) == b""
    assert (await collect(store.export(ExchangeQuery(), "csv"))).decode().strip() == ",".join(
        FIELDS
    )


async def test_export_refuses_an_unknown_format(store: RecordStore) -> None:
    with pytest.raises(ValueError, match="jsonl or csv"):
        await collect(store.export(ExchangeQuery(), "xml"))  # type: ignore[arg-type]


# --- both stores alike -------------------------------------------------------------------


async def test_both_stores_answer_byte_for_byte_alike(tmp_path: Path) -> None:
    schema = f"ndxp_test_{uuid.uuid4().hex[:12]}"
    stores: list[RecordStore] = [
        SqliteRecordStore(tmp_path / "exchanges.db", export_chunk_rows=4),
        PostgresRecordStore(pg_url(schema), export_chunk_rows=4),
    ]
    batch = [
        record(i, consumer=f"onestop-{i % 3}", detail="038090001234" if i == 2 else None)
        for i in range(11)
    ]
    batch.append(record(11, contract_violations=["x"], upstream_ms=None, response_in_ts=None))
    answers = []
    try:
        for store in stores:
            await store.open()
            await store.write(batch)
            answers.append(
                (
                    await store.query(ExchangeQuery(consumer="onestop-1", limit=2, offset=1)),
                    await collect(store.export(ExchangeQuery(), "jsonl")),
                    await collect(store.export(ExchangeQuery(since=T0), "csv")),
                )
            )
    finally:
        for store in stores:
            await store.close()
        await PostgresRecordStore(pg_url(schema)).drop_schema()
    assert answers[0] == answers[1]
    assert answers[0][1].count(b"\n") == 12


# --- behind the journal (what the gateway runs) ------------------------------------------


async def test_the_journaled_log_stores_every_record_submitted_before_close(
    make_store: MakeStore, tmp_path: Path
) -> None:
    settings = JournalSettings(batch_size=64)
    log = JournaledExchangeLog(make_store(), tmp_path / JOURNAL_DIR, settings)
    await log.start()
    for i in range(500):
        log.submit(record(i))
    await log.flush()
    page = await log.query(ExchangeQuery(limit=1))
    await log.close()
    assert page.total == 500
    assert log.dropped == 0
    reader = make_store()
    assert (await reader.query(ExchangeQuery(limit=1))).total == 500


def test_the_url_picks_the_store(tmp_path: Path) -> None:
    assert isinstance(open_record_store(None, tmp_path), SqliteRecordStore)
    store = open_record_store("postgresql://u@db.example:5432/ndxp?schema=log_2025", tmp_path)
    assert isinstance(store, PostgresRecordStore)
    assert (store.url, store.schema) == ("postgresql://u@db.example:5432/ndxp", "log_2025")
    with pytest.raises(ValueError, match="identifier"):
        PostgresRecordStore("postgresql://u@db/ndxp?schema=bad-name;drop")
