"""The exchange journal (*sổ ghi trước*): every record on disk before its answer leaves.

:class:`JournaledExchangeLog` is the :class:`gateway.exchange_log.ExchangeLog` of a gateway
process. ``submit`` appends the record, one JSON line, to this process's journal with a single
``os.write`` on an ``O_APPEND`` descriptor — no fsync: once ``write`` returns the bytes are in
the kernel's page cache, and the kernel keeps them when the process is killed (SIGKILL, OOM
killer, a crash). A drainer task then hands batches to a :class:`~gateway.exchange_log.RecordStore`
(SQLite, PostgreSQL) and deletes journal segments once every record in them is stored. A store
that fails is retried; the records wait in the journal meanwhile.

On disk, under ``journal/`` in the state directory, each process owns::

    <owner>.lock                 flock()ed for the life of the process
    <owner>.<seq:08d>.jsonl      segments: one ExchangeRecord JSON per line, in submit order

``<owner>`` is ``<pid>-<random hex>``. The lock file is created under a temporary name, locked,
then renamed, so it never appears unlocked while its owner lives. The kernel drops a dead
process's flock, so a lock file that can be locked belongs to a dead process: its journal is an
*orphan*. Each drainer looks for orphans at start-up and every ``orphan_scan_interval_s``,
claims one by locking it (two workers never replay the same journal at once), stores its
records, deletes its segments, then its lock file. A replay may repeat records that were stored
before the crash; stores are idempotent on ``exchange_id``.

Bounds: at most ``max_bytes`` of journal per process (a record beyond it is dropped: counted in
``dropped`` and warned about), at most ``max_pending`` records also held in memory (the drainer
reads the rest back from the journal). What can still be lost: what the page cache held when
the *machine* lost power or crashed (``fsync=True`` closes that gap at the price of one disk
flush per exchange), and records counted in ``dropped``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NamedTuple

import structlog

from contracts.exchange import ExchangePage, ExchangeRecord
from gateway.exchange_log import ExchangeQuery, RecordStore, mask_personal_ids
from gateway.journal_files import (
    JOURNAL_DIR,
    Orphan,
    claim_orphan,
    create_lock,
    lock_path,
    read_lines,
    records_in,
    segment_path,
)
from ndxp_config.settings import JournalSettings

__all__ = ["JOURNAL_DIR", "JournaledExchangeLog", "records_in"]

_log = structlog.get_logger(__name__)
_SERIALIZER = ExchangeRecord.__pydantic_serializer__
_SPLIT_AFTER = 3  # failed attempts of a batch before its records are tried one by one
_RETRY_MAX_S = 5.0
_READ_FLUSH_S = 5.0  # how long a read waits for this process's backlog before reading anyway


class _Entry(NamedTuple):
    """A record held in memory, and where its line is in this process's journal."""

    segment: int
    start: int
    end: int
    record: ExchangeRecord


@dataclass(slots=True)
class _Batch:
    records: list[ExchangeRecord] = field(default_factory=list)
    lines: int = 0  # journal lines consumed, stored or not
    unreadable: int = 0  # lines that were not a record (a torn tail after a power cut)


class JournaledExchangeLog:
    """An :class:`~gateway.exchange_log.ExchangeLog` that journals before it stores.

    ``submit`` may be called from any thread; the drainer runs on the event loop that called
    :meth:`start`. Reads go to the store after this process's backlog is stored (bounded wait),
    so the admin API reads its own writes.
    """

    def __init__(
        self, store: RecordStore, directory: Path, policy: JournalSettings | None = None
    ) -> None:
        self.store = store
        self.directory = directory
        self.policy = policy or JournalSettings()
        self.owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        # Guards the journal file, the counters and the pending deque; held for one write.
        self._lock = threading.Lock()
        self._lock_fd = -1
        self._fd = -1
        self._segment = 0
        self._segment_size = 0
        self._sizes: dict[int, int] = {}  # segment -> size, for segments not yet deleted
        self._disk_bytes = 0
        self._pending: deque[_Entry] = deque()
        self._journaled = 0  # records written to this process's journal, ever
        self._done = 0  # of those, records the drainer is finished with (stored or dropped)
        self._dropped = 0
        self._closed = False
        self._stopping = False
        # Drainer state: where it reads next in this process's journal.
        self._cursor = (0, 0)
        self._orphan: Orphan | None = None
        self._next_scan = 0.0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._wake: asyncio.Event | None = None

    # --- the request path ---------------------------------------------------------------

    @property
    def dropped(self) -> int:
        """Records not stored: journal full or unwritable, malformed, or submitted after close."""
        return self._dropped

    @property
    def backlog(self) -> int:
        """Records of this process journaled and not yet stored."""
        return self._journaled - self._done

    def submit(self, record: ExchangeRecord) -> None:
        """Append ``record`` to the journal: one ``write``, O(1), never blocks on the store.

        When this returns, the record survives this process being killed. Never raises: a
        record that cannot be journaled is counted in ``dropped`` and warned about.
        """
        try:
            if record.detail is not None:
                masked = mask_personal_ids(record.detail)
                if masked != record.detail:
                    record = record.model_copy(update={"detail": masked})
            line = _SERIALIZER.to_json(record) + b"\n"
        except Exception:  # a malformed record (model_construct) must not fail the answer
            _log.exception("exchange_log_record_unwritable")
            self._drop("malformed")
            return
        with self._lock:
            if self._closed:
                reason = "closed"
            elif self._disk_bytes + len(line) > self.policy.max_bytes:
                reason = "journal_full"
            else:
                reason = self._append(line, record)
            if not reason:
                backlog = self._journaled - self._done
        if reason:
            self._drop(reason)
        elif backlog >= self.policy.batch_size:
            self._wake_drainer()

    def _append(self, line: bytes, record: ExchangeRecord) -> str:
        """Write one line (lock held); the reason it was not written, or ``""``."""
        try:
            if self._fd < 0:
                self._open_journal()
            elif self._segment_size >= self.policy.segment_bytes:
                self._rotate()
            start = self._segment_size
            written = os.write(self._fd, line)
            if written != len(line):  # disk full mid-line: never leave half a record
                os.ftruncate(self._fd, start)
                return "journal_write_failed"
            if self.policy.fsync:
                os.fdatasync(self._fd)
        except OSError as exc:
            _log.error("exchange_log_journal_write_failed", error=str(exc))
            return "journal_write_failed"
        self._segment_size += written
        self._sizes[self._segment] = self._segment_size
        self._disk_bytes += written
        self._journaled += 1
        if len(self._pending) < self.policy.max_pending:
            self._pending.append(_Entry(self._segment, start, start + written, record))
        return ""

    def _drop(self, reason: str) -> None:
        with self._lock:
            self._dropped += 1
            dropped = self._dropped
        if dropped == 1 or dropped % 1000 == 0:
            # Rate-limited: an overloaded gateway must not also drown in its own warnings.
            _log.warning(
                "exchange_log_dropped",
                dropped_total=dropped,
                reason=reason,
                max_bytes=self.policy.max_bytes,
            )

    def _wake_drainer(self) -> None:
        loop, wake = self._loop, self._wake
        if loop is None or wake is None or wake.is_set():
            return
        try:
            if asyncio.get_running_loop() is loop:
                wake.set()
                return
        except RuntimeError:  # no loop in this thread
            pass
        with contextlib.suppress(RuntimeError):  # that loop is closed: the interval wakes it
            loop.call_soon_threadsafe(wake.set)

    # --- this process's journal files ---------------------------------------------------

    def _path(self, segment: int) -> Path:
        return segment_path(self.directory, self.owner, segment)

    def _open_journal(self) -> None:
        self._lock_fd = create_lock(self.directory, self.owner)
        self._segment = 1
        self._cursor = (1, 0)
        self._fd = self._open_segment(1)

    def _open_segment(self, segment: int) -> int:
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC
        fd = os.open(self._path(segment), flags, 0o600)
        self._sizes[segment] = 0
        return fd

    def _rotate(self) -> None:
        fd = self._open_segment(self._segment + 1)
        os.close(self._fd)
        self._fd = fd
        self._segment += 1
        self._segment_size = 0

    def _delete_segments_before(self, segment: int) -> None:
        """Delete this process's segments older than ``segment``: all their records are stored."""
        with self._lock:
            finished = [s for s in self._sizes if s < segment and s != self._segment]
            for s in finished:
                self._disk_bytes -= self._sizes.pop(s)
        for s in finished:
            with contextlib.suppress(FileNotFoundError):
                self._path(s).unlink()

    def _remove_journal(self) -> None:
        """After a clean drain: nothing of this process is left to replay."""
        with self._lock:
            segments = list(self._sizes)
            self._sizes.clear()
            self._disk_bytes = 0
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
        for s in segments:
            with contextlib.suppress(FileNotFoundError):
                self._path(s).unlink()
        if self._lock_fd >= 0:
            with contextlib.suppress(FileNotFoundError):
                lock_path(self.directory, self.owner).unlink()

    def _release_journal(self) -> None:
        """Close the files (the flock goes with them); what is left is replayed later."""
        with self._lock:
            fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # --- lifecycle ----------------------------------------------------------------------

    async def start(self) -> None:
        """Open the store, then start the drainer (which replays orphans first); idempotent."""
        if self._task is not None:
            return
        if self._closed:
            raise RuntimeError("the exchange log is closed")
        await self.store.open()
        if self._task is not None:  # a concurrent start() won the race
            return
        with self._lock:
            if self._fd < 0:
                self._open_journal()
        self._loop = asyncio.get_running_loop()
        self._wake = asyncio.Event()
        self._task = asyncio.create_task(self._drain(), name="ndxp-exchange-journal")

    async def flush(self, timeout_s: float | None = None) -> None:
        """Wait until every record submitted so far is stored (or counted as dropped).

        Raises TimeoutError after ``timeout_s``; RuntimeError if the drainer is not running.
        """
        with self._lock:
            target = self._journaled
        if self._done >= target:
            return
        task = self._task
        if task is None or task.done():
            raise RuntimeError("the exchange log drainer is not running; call start() first")
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append((target, fut))
        self._wake_drainer()
        await asyncio.wait_for(fut, timeout_s)

    async def close(self) -> None:
        """Refuse new records, store every journaled one, stop; idempotent.

        If the store cannot take them within ``close_timeout_s``, they stay in the journal and
        the next start (of any worker on this state directory) replays them.
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            journaled = self._journaled
        if self._task is None:
            if not journaled:
                self._remove_journal()
                await self.store.close()
                return
            self._closed = False  # start() refuses a closed log; nothing can submit meanwhile
            await self.start()
            self._closed = True
        assert self._task is not None
        self._stopping = True
        self._wake_drainer()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.policy.close_timeout_s)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        except Exception:  # the drainer crashed; it logged why
            pass
        left = self._journaled - self._done
        if left:
            _log.error("exchange_log_left_in_journal", records=left, journal=str(self.directory))
            self._release_journal()
        else:
            self._remove_journal()
            self._release_journal()
        self._release_orphan()
        self._fail_waiters(RuntimeError("the exchange log is closed"))
        await self.store.close()

    # --- reads: the store's, after this process's backlog ------------------------------------

    async def query(self, q: ExchangeQuery) -> ExchangePage:
        """See :meth:`gateway.exchange_log.ExchangeLog.query`."""
        await self._before_read()
        return await self.store.query(q)

    async def get(self, exchange_id: str) -> ExchangeRecord | None:
        """See :meth:`gateway.exchange_log.ExchangeLog.get`."""
        await self._before_read()
        return await self.store.get(exchange_id)

    async def export(self, q: ExchangeQuery, fmt: Literal["jsonl", "csv"]) -> AsyncIterator[bytes]:
        """See :meth:`gateway.exchange_log.ExchangeLog.export`."""
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"export format must be jsonl or csv, got {fmt!r}")
        await self._before_read()
        async for chunk in self.store.export(q, fmt):
            yield chunk

    async def _before_read(self) -> None:
        if self._task is None and not self._closed:
            await self.start()  # reads need the schema; the drainer costs nothing idle
        # A store that is down must not hang the admin API: read what is there.
        with contextlib.suppress(TimeoutError, RuntimeError):
            await self.flush(_READ_FLUSH_S)

    # --- the drainer ----------------------------------------------------------------------

    async def _drain(self) -> None:
        assert self._wake is not None
        try:
            while True:
                while batch := await self._next_batch():
                    await self._store(batch)
                    self._finish(batch)
                if self._stopping and self._done >= self._journaled:
                    return
                if not self._stopping:
                    await self._replay_one_orphan_batch()
                busy = self._done < self._journaled or self._orphan is not None
                if self._wake.is_set() or busy:
                    self._wake.clear()
                    continue
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.policy.flush_interval_s)
                self._wake.clear()
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # a bug here must fail flush(), not hang it
            _log.exception("exchange_log_drainer_crashed")
            self._fail_waiters(exc)
            raise

    async def _next_batch(self) -> _Batch | None:
        """The next records of this process's journal, from memory, or read back from disk."""
        batch = _Batch()
        segment, offset = self._cursor
        while batch.lines < self.policy.batch_size:
            with self._lock:
                head = self._pending[0] if self._pending else None
                if head is not None and (head.segment, head.start) == (segment, offset):
                    self._pending.popleft()
                size = self._sizes.get(segment, 0)
                current = self._segment
            if head is not None and (head.segment, head.start) == (segment, offset):
                batch.records.append(head.record)
                batch.lines += 1
                offset = head.end
                continue
            # Records not kept in memory (more than max_pending were waiting): read them back.
            end = head.start if head is not None and head.segment == segment else size
            if offset < end:
                records, lines, unreadable, offset = await asyncio.to_thread(
                    read_lines,
                    self._path(segment),
                    offset,
                    end,
                    self.policy.batch_size - batch.lines,
                )
                batch.records += records
                batch.lines += lines
                batch.unreadable += unreadable
                continue
            if segment < current:
                segment, offset = segment + 1, 0
                continue
            break
        self._cursor = (segment, offset)
        return batch if batch.lines else None

    def _finish(self, batch: _Batch) -> None:
        with self._lock:
            self._done += batch.lines
            self._dropped += batch.unreadable
            caught_up = self._cursor == (self._segment, self._segment_size)
            if caught_up and self._segment_size and self._fd >= 0:
                # Everything journaled is stored: start a new segment so this one can go (the
                # bytes on disk are then only records waiting, and a crash replays little).
                try:
                    self._rotate()
                    self._cursor = (self._segment, 0)
                except OSError as exc:
                    _log.error("exchange_log_journal_rotate_failed", error=str(exc))
        self._delete_segments_before(self._cursor[0])
        self._notify_waiters()

    async def _store(self, records: _Batch | list[ExchangeRecord]) -> None:
        """Store a batch, retrying until it is stored (the journal keeps it meanwhile)."""
        batch = records if isinstance(records, _Batch) else _Batch(records, len(records))
        attempt = 0
        while batch.records:
            try:
                await self.store.write(batch.records)
            except Exception as exc:
                attempt += 1
                if attempt == 1 or attempt % 20 == 0:
                    _log.warning(
                        "exchange_log_store_failed",
                        attempt=attempt,
                        records=len(batch.records),
                        error=repr(exc),
                    )
                if attempt == _SPLIT_AFTER and len(batch.records) > 1:
                    await self._store_one_by_one(batch)
                    continue
                await asyncio.sleep(min(_RETRY_MAX_S, 0.05 * 2**attempt))
            else:
                if attempt:
                    _log.info("exchange_log_store_recovered", attempts=attempt + 1)
                return

    async def _store_one_by_one(self, batch: _Batch) -> None:
        """Find records the store refuses while it takes others: drop those, keep the rest.

        If every record fails, the store is down, not the records: all are kept and retried.
        """
        refused: list[ExchangeRecord] = []
        for record in batch.records:
            try:
                await self.store.write([record])
            except Exception:
                refused.append(record)
        if len(refused) < len(batch.records):
            for record in refused:
                _log.error("exchange_log_record_refused", exchange_id=record.exchange_id)
            with self._lock:
                self._dropped += len(refused)
            batch.records = []
        else:
            batch.records = refused

    def _notify_waiters(self) -> None:
        done = self._done
        keep: list[tuple[int, asyncio.Future[None]]] = []
        for target, fut in self._waiters:
            if target > done:
                keep.append((target, fut))
            elif not fut.done():
                fut.set_result(None)
        self._waiters = keep

    def _fail_waiters(self, error: BaseException) -> None:
        waiters, self._waiters = self._waiters, []
        for _, fut in waiters:
            if not fut.done():
                fut.set_exception(error)

    # --- orphans: journals of dead processes ------------------------------------------------

    async def _replay_one_orphan_batch(self) -> None:
        if self._orphan is None:
            now = time.monotonic()
            if now < self._next_scan:
                return
            self._next_scan = now + self.policy.orphan_scan_interval_s
            self._orphan = await asyncio.to_thread(claim_orphan, self.directory, self.owner)
            if self._orphan is None:
                return
            _log.info("exchange_log_replaying", journal=self._orphan.lock_path.stem)
        orphan = self._orphan
        if not orphan.segments:
            orphan.lock_path.unlink(missing_ok=True)
            self._release_orphan()
            self._next_scan = 0.0  # there may be more
            return
        path = orphan.segments[0]
        records, lines, unreadable, offset = await asyncio.to_thread(
            read_lines, path, orphan.offset, None, self.policy.batch_size
        )
        await self._store(records)
        self._count_unreadable(path, unreadable)
        orphan.offset = offset
        if not lines:  # the end of this segment: all its records are stored
            path.unlink(missing_ok=True)
            orphan.segments.pop(0)
            orphan.offset = 0

    async def replay_orphans(self) -> int:
        """Replay every journal of a dead process now; the number of records stored.

        The drainer does this on its own (at start-up, then every ``orphan_scan_interval_s``);
        a journal locked by a live process, or by another replaying drainer, is left alone.
        """
        stored = 0
        while (
            orphan := await asyncio.to_thread(claim_orphan, self.directory, self.owner)
        ) is not None:
            try:
                for path in orphan.segments:
                    offset = 0
                    while True:
                        records, lines, unreadable, offset = await asyncio.to_thread(
                            read_lines, path, offset, None, self.policy.batch_size
                        )
                        if not lines:
                            break
                        await self._store(records)
                        stored += len(records)
                        self._count_unreadable(path, unreadable)
                    path.unlink(missing_ok=True)
                orphan.lock_path.unlink(missing_ok=True)
            finally:
                os.close(orphan.fd)
        return stored

    def _count_unreadable(self, path: Path, unreadable: int) -> None:
        if unreadable:
            _log.warning("exchange_log_unreadable_lines", journal=path.name, lines=unreadable)
            with self._lock:
                self._dropped += unreadable

    def _release_orphan(self) -> None:
        orphan, self._orphan = self._orphan, None
        if orphan is not None:
            os.close(orphan.fd)
