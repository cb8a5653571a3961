"""The exchange journal: a record is on disk before its answer leaves; crashes, a failing store
and a full disk lose nothing silently."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from contracts.exchange import ExchangeRecord
from gateway.exchange_log import ExchangeQuery
from gateway.exchange_log_sqlite import SqliteRecordStore
from gateway.journal import JOURNAL_DIR, JournaledExchangeLog, records_in
from ndxp_config.settings import JournalSettings
from tests.records import record

ROOT = Path(__file__).resolve().parents[1]


LINE_BYTES = len(record(0).model_dump_json()) + 1


class FlakyStore(SqliteRecordStore):
    """The SQLite store, made to fail on demand: down, refusing some ids, or held mid-write."""

    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.down = False
        self.refused: set[str] = set()
        self.failed_writes = 0
        self.writing = asyncio.Event()  # set when a write has started
        self.release: asyncio.Event | None = None  # when set, writes wait for it

    async def write(self, records: Sequence[ExchangeRecord]) -> None:
        self.writing.set()
        if self.release is not None:
            await self.release.wait()
        if self.down or any(r.exchange_id in self.refused for r in records):
            self.failed_writes += 1
            raise ConnectionError("the store is down")
        await super().write(records)


MakeLog = Callable[..., JournaledExchangeLog]


@pytest.fixture
def store_path(tmp_path: Path) -> Path:
    return tmp_path / "exchanges.db"


@pytest.fixture
def journal_dir(tmp_path: Path) -> Path:
    return tmp_path / JOURNAL_DIR


@pytest.fixture
async def make_log(store_path: Path, journal_dir: Path) -> AsyncIterator[MakeLog]:
    """Logs on one store file and one journal directory; closed at teardown."""
    made: list[JournaledExchangeLog] = []

    def make(store: SqliteRecordStore | None = None, **policy: Any) -> JournaledExchangeLog:
        log = JournaledExchangeLog(
            store or SqliteRecordStore(store_path), journal_dir, JournalSettings(**policy)
        )
        made.append(log)
        return log

    yield make
    for log in made:
        await log.close()


async def stored_ids(store_path: Path) -> list[str]:
    store = SqliteRecordStore(store_path)
    try:
        page = await store.query(ExchangeQuery(limit=1000))
    finally:
        await store.close()
    return sorted(r.exchange_id for r in page.items)


def ids(numbers: range | list[int]) -> list[str]:
    return sorted(record(i).exchange_id for i in numbers)


async def wait_stored(store_path: Path, expected: list[str]) -> list[str]:
    """The stored ids once they are ``expected`` (a drainer replays in the background)."""
    deadline = time.monotonic() + 30  # bounds a hang only
    while True:
        stored = await stored_ids(store_path)
        if stored == expected or time.monotonic() > deadline:
            return stored
        await asyncio.sleep(0.02)


def files(directory: Path, pattern: str = "*") -> list[str]:
    return sorted(path.name for path in directory.glob(pattern))


def write_orphan(directory: Path, owner: str, content: bytes) -> None:
    """A dead process's journal: its lock file (unlocked) and one segment."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{owner}.lock").touch()
    (directory / f"{owner}.00000001.jsonl").write_bytes(content)


# --- on disk before the answer ------------------------------------------------------------


async def test_a_submitted_record_is_in_the_journal_before_the_store_sees_it(
    make_log: MakeLog, journal_dir: Path
) -> None:
    log = make_log()
    log.submit(record(1))
    assert records_in(journal_dir) == [record(1)]
    await log.start()
    assert (await log.get(record(1).exchange_id)) == record(1)


async def test_a_killed_process_loses_nothing_its_journal_is_replayed_at_the_next_start(
    make_log: MakeLog, store_path: Path, journal_dir: Path, tmp_path: Path
) -> None:
    # A real process journals 300 records and is SIGKILLed at once: no close, no drain.
    inputs = tmp_path / "records.jsonl"
    inputs.write_text("".join(record(i).model_dump_json() + "\n" for i in range(300)))
    child = f"""
import asyncio, os, signal
from pathlib import Path
from contracts.exchange import ExchangeRecord
from gateway.exchange_log_sqlite import SqliteRecordStore
from gateway.journal import JournaledExchangeLog

async def main() -> None:
    log = JournaledExchangeLog(SqliteRecordStore(Path({str(store_path)!r})),
                               Path({str(journal_dir)!r}))
    await log.start()
    for line in Path({str(inputs)!r}).read_text().splitlines():
        log.submit(ExchangeRecord.model_validate_json(line))
    os.kill(os.getpid(), signal.SIGKILL)

asyncio.run(main())
"""
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", child], cwd=ROOT, check=False, timeout=60
    )
    assert done.returncode == -signal.SIGKILL
    assert len(records_in(journal_dir)) >= 1  # it left a journal (what its drainer had not done)

    log = make_log()
    await log.start()  # its drainer looks for journals of dead processes first
    assert await wait_stored(store_path, ids(range(300))) == ids(range(300))  # each once
    # Then its journal goes (deleted once stored): only the live log's own files remain.
    deadline = time.monotonic() + 30  # bounds a hang only
    while not all(name.startswith(log.owner) for name in files(journal_dir)):
        assert time.monotonic() < deadline, files(journal_dir)
        await asyncio.sleep(0.02)


async def test_a_live_process_journal_is_never_replayed_by_another(
    make_log: MakeLog, store_path: Path
) -> None:
    alive = make_log()  # never started: its journal is all it has
    alive.submit(record(1))
    other = make_log()
    await other.start()
    assert await other.replay_orphans() == 0
    assert await stored_ids(store_path) == []
    await alive.start()
    await alive.flush()
    assert await stored_ids(store_path) == ids([1])


async def test_two_drainers_never_replay_the_same_journal(
    make_log: MakeLog, store_path: Path, journal_dir: Path
) -> None:
    dead = make_log(close_timeout_s=0.05)
    for i in range(5):
        dead.submit(record(i))
    down = FlakyStore(store_path)
    down.down = True
    dead.store = down
    await dead.close()  # the store is down: the journal stays, unlocked, like a dead process's
    assert len(records_in(journal_dir)) == 5

    held = FlakyStore(store_path)
    held.release = asyncio.Event()
    first, second = make_log(held), make_log()
    await first.store.open()
    replaying = asyncio.create_task(first.replay_orphans())
    await held.writing.wait()  # first has claimed the journal and is storing it
    assert await second.replay_orphans() == 0
    held.release.set()
    assert await replaying == 5
    assert await stored_ids(store_path) == ids(range(5))
    assert records_in(journal_dir) == []


# --- a failing store ------------------------------------------------------------------------


async def test_records_wait_in_the_journal_while_the_store_is_down_and_are_stored_after(
    make_log: MakeLog, store_path: Path, journal_dir: Path
) -> None:
    store = FlakyStore(store_path)
    store.down = True
    log = make_log(store, batch_size=10)
    await log.start()
    for i in range(25):
        log.submit(record(i))
    await store.writing.wait()
    assert len(records_in(journal_dir)) == 25
    store.down = False
    await log.flush()
    assert await stored_ids(store_path) == ids(range(25))
    assert log.dropped == 0
    assert store.failed_writes >= 1


async def test_a_record_the_store_refuses_is_dropped_and_counted_the_others_are_stored(
    make_log: MakeLog, store_path: Path
) -> None:
    store = FlakyStore(store_path)
    store.refused = {record(3).exchange_id}
    log = make_log(store)
    for i in range(6):
        log.submit(record(i))
    with capture_logs() as logs:
        await log.start()
        await log.flush()
    assert await stored_ids(store_path) == ids([0, 1, 2, 4, 5])
    assert log.dropped == 1
    refused = [e for e in logs if e["event"] == "exchange_log_record_refused"]
    assert [e["exchange_id"] for e in refused] == [record(3).exchange_id]


async def test_close_with_the_store_down_leaves_the_records_for_the_next_start(
    make_log: MakeLog, store_path: Path, journal_dir: Path
) -> None:
    store = FlakyStore(store_path)
    store.down = True
    log = make_log(store, close_timeout_s=0.2)
    await log.start()
    for i in range(10):
        log.submit(record(i))
    await log.close()
    assert log.dropped == 0  # not lost: still in the journal
    assert len(records_in(journal_dir)) == 10

    restarted = make_log()
    await restarted.start()
    assert await wait_stored(store_path, ids(range(10))) == ids(range(10))
    assert restarted.dropped == 0


# --- bounds ----------------------------------------------------------------------------------


async def test_records_beyond_the_disk_bound_are_dropped_counted_and_warned_about(
    make_log: MakeLog, store_path: Path
) -> None:
    log = make_log(max_bytes=5 * LINE_BYTES)
    with capture_logs() as logs:
        for i in range(8):
            log.submit(record(i))
    assert log.dropped == 3
    assert [e["reason"] for e in logs if e["event"] == "exchange_log_dropped"] == ["journal_full"]
    await log.start()
    await log.flush()  # stored: the journal has room again
    log.submit(record(8))
    await log.flush()
    assert await stored_ids(store_path) == ids([0, 1, 2, 3, 4, 8])
    assert log.dropped == 3


async def test_stored_segments_are_deleted_so_the_journal_holds_only_what_waits(
    make_log: MakeLog, journal_dir: Path
) -> None:
    log = make_log(segment_bytes=4 * LINE_BYTES)
    for i in range(50):
        log.submit(record(i))
    assert len(files(journal_dir, "*.jsonl")) > 10  # rotated: 50 records in segments of 4
    await log.start()
    await log.flush()
    assert records_in(journal_dir) == []
    assert len(files(journal_dir, "*.jsonl")) <= 1


async def test_records_beyond_the_memory_bound_are_read_back_from_the_journal(
    make_log: MakeLog, store_path: Path
) -> None:
    log = make_log(max_pending=3, batch_size=4, segment_bytes=7 * LINE_BYTES)
    for i in range(40):
        log.submit(record(i))
    await log.start()
    await log.flush()
    assert await stored_ids(store_path) == ids(range(40))
    assert log.dropped == 0


async def test_a_torn_last_line_is_counted_and_the_rest_replayed(
    make_log: MakeLog, store_path: Path, journal_dir: Path
) -> None:
    # What a power cut can leave: a dead process's journal whose last line is half written.
    lines = [record(i).model_dump_json().encode() + b"\n" for i in range(3)]
    torn = lines[2][: len(lines[2]) // 2]
    write_orphan(journal_dir, "4242-deadbeef", lines[0] + lines[1] + torn)
    log = make_log()
    await log.store.open()  # not started: no drainer races this explicit replay
    with capture_logs() as logs:
        assert await log.replay_orphans() == 2
    assert await stored_ids(store_path) == ids([0, 1])
    assert log.dropped == 1
    assert any(e["event"] == "exchange_log_unreadable_lines" for e in logs)


async def test_replaying_records_already_stored_does_not_duplicate_them(
    make_log: MakeLog, store_path: Path, journal_dir: Path
) -> None:
    # A process stored its records, then died before deleting its journal segment.
    log = make_log()
    for i in range(5):
        log.submit(record(i))
    await log.close()  # all stored; and its drainer no longer looks for orphans
    write_orphan(
        journal_dir,
        "4243-feedface",
        b"".join(record(i).model_dump_json().encode() + b"\n" for i in range(7)),
    )
    replayer = make_log()
    await replayer.store.open()
    assert await replayer.replay_orphans() == 7
    assert await stored_ids(store_path) == ids(range(7))


async def test_fsync_mode_journals_and_stores_the_same(
    make_log: MakeLog, store_path: Path, journal_dir: Path
) -> None:
    log = make_log(fsync=True)
    log.submit(record(1))
    assert records_in(journal_dir) == [record(1)]
    await log.start()
    await log.flush()
    assert await stored_ids(store_path) == ids([1])


async def test_a_malformed_record_is_dropped_and_counted_not_raised(make_log: MakeLog) -> None:
    log = make_log()
    log.submit(ExchangeRecord.model_construct(exchange_id="x", request_in_ts=object()))
    assert log.dropped == 1


def test_journal_files_are_private_to_the_gateway_user(
    make_log: MakeLog, journal_dir: Path
) -> None:
    make_log().submit(record(1))
    modes = {path.name: path.stat().st_mode & 0o777 for path in journal_dir.iterdir()}
    assert set(modes.values()) == {0o600}, modes
    assert os.access(journal_dir, os.W_OK)
