"""The exchange log over SQLite: nothing lost, filters, paging, streamed exports, drops counted,
ids masked. The journal's own behaviours (crashes, bounds, a failing store) are in test_journal.py.
"""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from contracts.exchange import ExchangeRecord
from gateway.exchange_log import ExchangeQuery, mask_personal_ids, open_exchange_log
from gateway.exchange_log_sqlite import FIELDS, SqliteRecordStore
from gateway.journal import JOURNAL_DIR, JournaledExchangeLog, records_in
from gateway.quotas import LOCAL_TZ
from ndxp_config.settings import JournalSettings
from tests.records import T0, record

MakeRecord = Callable[..., ExchangeRecord]
MakeLog = Callable[..., JournaledExchangeLog]


@pytest.fixture
def make_record() -> MakeRecord:
    """Records numbered in order: record ``i`` was received ``i`` seconds after T0."""
    return record


@pytest.fixture
async def make_log(tmp_path: Path) -> AsyncIterator[MakeLog]:
    """Logs on one file and one journal directory (several workers, or one restarted);
    closed at teardown. ``export_chunk_rows`` goes to the store, the rest to the journal."""
    made: list[JournaledExchangeLog] = []

    def make(export_chunk_rows: int = 1000, **journal: Any) -> JournaledExchangeLog:
        store = SqliteRecordStore(tmp_path / "exchanges.db", export_chunk_rows=export_chunk_rows)
        made.append(JournaledExchangeLog(store, tmp_path / JOURNAL_DIR, JournalSettings(**journal)))
        return made[-1]

    yield make
    for log in made:
        await log.close()


@pytest.fixture
async def log(make_log: MakeLog) -> JournaledExchangeLog:
    exchange_log = make_log()
    await exchange_log.start()
    return exchange_log


def files_bytes(directory: Path, pattern: str) -> bytes:
    return b"".join(path.read_bytes() for path in sorted(directory.glob(pattern)))


async def collect(chunks: AsyncIterator[bytes]) -> list[bytes]:
    return [chunk async for chunk in chunks]


# --- nothing lost ------------------------------------------------------------------------


async def test_records_submitted_before_close_are_all_stored(
    make_log: MakeLog, make_record: MakeRecord
) -> None:
    writer = make_log(batch_size=64)
    await writer.start()
    for i in range(1000):
        writer.submit(make_record(i))
    await writer.close()
    reader = make_log()
    page = await reader.query(ExchangeQuery(limit=1))
    assert page.total == 1000
    assert writer.dropped == 0


async def test_close_without_start_still_writes_what_was_submitted(
    make_log: MakeLog, make_record: MakeRecord
) -> None:
    writer = make_log()
    for i in range(3):
        writer.submit(make_record(i))
    await writer.close()
    assert (await make_log().query(ExchangeQuery())).total == 3


async def test_flush_makes_records_readable_without_closing(
    log: JournaledExchangeLog, make_record: MakeRecord, tmp_path: Path
) -> None:
    log.submit(make_record(1))
    await log.flush()
    with sqlite3.connect(tmp_path / "exchanges.db") as conn:
        (count,) = conn.execute("SELECT count(*) FROM exchange").fetchone()
    assert count == 1


async def test_submit_after_close_is_counted_as_dropped(
    log: JournaledExchangeLog, make_record: MakeRecord
) -> None:
    await log.close()
    log.submit(make_record(1))
    assert log.dropped == 1


async def test_a_full_journal_counts_drops_and_the_log_keeps_working(
    make_log: MakeLog, make_record: MakeRecord
) -> None:
    # Not started yet, so nothing drains the journal: the 11th to 15th submits find it full.
    line_bytes = len(make_record(0).model_dump_json()) + 1
    writer = make_log(max_bytes=10 * line_bytes)
    for i in range(15):
        writer.submit(make_record(i))
    assert writer.dropped == 5
    await writer.start()
    await writer.flush()
    writer.submit(make_record(100))
    page = await writer.query(ExchangeQuery())
    assert page.total == 11
    assert page.items[0].exchange_id == make_record(100).exchange_id
    assert writer.dropped == 5


async def test_two_writers_on_one_file_lose_nothing(
    make_log: MakeLog, make_record: MakeRecord
) -> None:
    first, second = make_log(batch_size=10), make_log(batch_size=10)
    await first.start()
    await second.start()
    for i in range(300):
        (first if i % 2 else second).submit(make_record(i))
    await first.close()
    await second.close()
    assert (await make_log().query(ExchangeQuery())).total == 300


async def test_flush_before_start_is_refused(make_log: MakeLog, make_record: MakeRecord) -> None:
    writer = make_log()
    writer.submit(make_record(1))
    with pytest.raises(RuntimeError, match="start"):
        await writer.flush()


# --- reading back ------------------------------------------------------------------------


async def test_get_returns_the_record_as_submitted(
    log: JournaledExchangeLog, make_record: MakeRecord
) -> None:
    record = make_record(7, contract_violations=["items[0].full_name", "status"])
    log.submit(record)
    assert await log.get(record.exchange_id) == record
    assert await log.get("0" * 32) is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        pytest.param(ExchangeQuery(consumer="onestop-ha-noi"), [1, 4], id="consumer"),
        pytest.param(ExchangeQuery(provider="civil-registry"), [2], id="provider"),
        pytest.param(ExchangeQuery(service="population.get_citizen"), [0, 1, 3, 4], id="service"),
        pytest.param(ExchangeQuery(outcome="quota_exceeded"), [3], id="outcome"),
        pytest.param(
            ExchangeQuery(since=T0 + timedelta(seconds=1), until=T0 + timedelta(seconds=3)),
            [1, 2],
            id="since-inclusive-until-exclusive",
        ),
        pytest.param(
            ExchangeQuery(since=T0.astimezone(LOCAL_TZ) + timedelta(seconds=4)),
            [4],
            id="since-in-another-offset",
        ),
        pytest.param(ExchangeQuery(consumer="onestop-ha-noi", outcome="ok"), [1, 4], id="combined"),
        pytest.param(ExchangeQuery(), [0, 1, 2, 3, 4], id="no-filter"),
    ],
)
async def test_query_filters(
    log: JournaledExchangeLog, make_record: MakeRecord, query: ExchangeQuery, expected: list[int]
) -> None:
    log.submit(make_record(0))
    log.submit(make_record(1, consumer="onestop-ha-noi"))
    log.submit(make_record(2, provider="civil-registry", service="civil-registry.get_dossier"))
    log.submit(
        make_record(3, status_code=429, outcome="quota_exceeded", succeeded=False, fault_code="q")
    )
    log.submit(make_record(4, consumer="onestop-ha-noi"))
    page = await log.query(query)
    assert [item.exchange_id for item in page.items] == [
        make_record(i).exchange_id for i in reversed(expected)
    ]
    assert page.total == len(expected)


async def test_query_pages_newest_first(log: JournaledExchangeLog, make_record: MakeRecord) -> None:
    # Submitted out of time order, as concurrent requests finish: order is by request_in_ts.
    for i in [3, 0, 4, 1, 2]:
        log.submit(make_record(i))
    page = await log.query(ExchangeQuery(limit=2, offset=1))
    assert [item.quota_remaining for item in page.items] == [49_000 - 3, 49_000 - 2]
    assert (page.total, page.limit, page.offset) == (5, 2, 1)
    beyond = await log.query(ExchangeQuery(limit=2, offset=5))
    assert beyond.items == []
    assert beyond.total == 5


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"limit": 0}, id="limit-zero"),
        pytest.param({"limit": 1001}, id="limit-over-1000"),
        pytest.param({"offset": -1}, id="negative-offset"),
        pytest.param({"since": datetime(2025, 1, 1)}, id="naive-since"),
    ],
)
def test_query_bounds_are_validated(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        ExchangeQuery(**bad)


# --- exports -----------------------------------------------------------------------------


async def test_export_jsonl_streams_every_match_oldest_first_in_chunks(
    make_log: MakeLog, make_record: MakeRecord
) -> None:
    log = make_log(export_chunk_rows=7)
    await log.start()
    for i in reversed(range(30)):
        log.submit(make_record(i, outcome="ok" if i % 3 else "upstream_timeout"))
    chunks = await collect(log.export(ExchangeQuery(outcome="ok", limit=1), "jsonl"))
    lines = b"".join(chunks).decode().splitlines()
    records = [ExchangeRecord.model_validate_json(line) for line in lines]
    assert len(records) == 20  # limit ignored
    assert [r.request_in_ts for r in records] == sorted(r.request_in_ts for r in records)
    assert len(chunks) == 3  # 20 rows in chunks of 7: streamed, not one blob


async def test_export_csv_has_a_header_and_joins_lists(
    log: JournaledExchangeLog, make_record: MakeRecord
) -> None:
    log.submit(make_record(1, contract_violations=["full_name", "address.province_code"]))
    log.submit(make_record(2, upstream_ms=None, succeeded=False))
    body = b"".join(await collect(log.export(ExchangeQuery(), "csv"))).decode()
    rows = list(csv.DictReader(io.StringIO(body)))
    assert list(rows[0]) == list(FIELDS)
    assert rows[0]["contract_violations"] == "full_name;address.province_code"
    assert rows[0]["request_in_ts"] == "2025-03-14T02:00:01Z"
    assert (rows[1]["upstream_ms"], rows[1]["succeeded"]) == ("", "false")


async def test_export_of_nothing_is_empty_or_just_the_header(log: JournaledExchangeLog) -> None:
    assert await collect(log.export(ExchangeQuery(), "jsonl")) == []
    csv_chunks = await collect(log.export(ExchangeQuery(), "csv"))
    assert b"".join(csv_chunks).decode().strip() == ",".join(FIELDS)


# --- personal ids ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        pytest.param("038090001234", "038*****1234", id="personal-id-12"),
        pytest.param("cmnd 123456789 het han", "cmnd *****6789 het han", id="old-id-9"),
        pytest.param("tel 0912345678", "tel 0912345678", id="phone-10-unchanged"),
        pytest.param("0380900012345", "0380900012345", id="13-digits-unchanged"),
        pytest.param("12345678", "12345678", id="8-digits-unchanged"),
        pytest.param(
            "id=038090001234;old=123456789.",
            "id=038*****1234;old=*****6789.",
            id="several-in-text",
        ),
        pytest.param("x038090001234y", "x038*****1234y", id="next-to-letters"),
    ],
)
def test_mask_personal_ids(text: str, masked: str) -> None:
    assert mask_personal_ids(text) == masked


async def test_personal_ids_in_detail_never_reach_the_disk(
    make_log: MakeLog, make_record: MakeRecord, tmp_path: Path
) -> None:
    log = make_log()
    record = make_record(1, detail="citizen 038090001234 not found")
    log.submit(record)
    journaled = files_bytes(tmp_path / JOURNAL_DIR, "*.jsonl")  # before the drainer runs
    assert [r.detail for r in records_in(tmp_path / JOURNAL_DIR)] == [
        "citizen 038*****1234 not found"
    ]
    stored = await log.get(record.exchange_id)
    assert stored is not None
    assert stored.detail == "citizen 038*****1234 not found"
    on_disk = journaled + files_bytes(tmp_path, "exchanges.db*")  # the database and its WAL
    assert b"038*****1234" in on_disk  # the check below looks where the data really is
    assert b"038090001234" not in on_disk


# --- the record model and choosing a log --------------------------------------------------


def test_stored_columns_follow_the_record_fields() -> None:
    assert tuple(ExchangeRecord.model_fields) == FIELDS


def test_record_timestamps_are_normalised_to_utc(make_record: MakeRecord) -> None:
    record = make_record(0, request_in_ts=datetime(2025, 3, 14, 9, 0, tzinfo=LOCAL_TZ))
    assert record.request_in_ts == T0
    assert record.request_in_ts.tzinfo is UTC
    assert json.loads(record.model_dump_json())["request_in_ts"] == "2025-03-14T02:00:00Z"


def test_record_refuses_unknown_fields_and_naive_times(make_record: MakeRecord) -> None:
    with pytest.raises(ValidationError):
        make_record(0, raw_path="/v1/citizens/038090001234")
    with pytest.raises(ValidationError):
        make_record(0, request_in_ts=datetime(2025, 3, 14, 9, 0))


async def test_default_log_lives_in_the_state_dir(tmp_path: Path, make_record: MakeRecord) -> None:
    exchange_log = open_exchange_log(None, tmp_path / "state")
    await exchange_log.start()
    exchange_log.submit(make_record(1))
    await exchange_log.close()
    assert (tmp_path / "state" / "exchanges.db").is_file()
    # A clean close stores everything: no journal is left to replay.
    assert list((tmp_path / "state" / JOURNAL_DIR).iterdir()) == []


def test_unknown_url_scheme_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sqlite:///"):
        open_exchange_log("mysql://localhost/ndxp", tmp_path)
