"""The exchange journal's files: names, the owner's lock, claiming orphans, reading lines back.

Under ``journal/`` in the state directory, each gateway process owns::

    <owner>.lock                 flock()ed for the life of the process
    <owner>.<seq:08d>.jsonl      segments: one ExchangeRecord JSON per line, in submit order

``<owner>`` is ``<pid>-<random hex>``. A lock file that can be locked belongs to a dead process
(the kernel drops a dead process's flock): its journal is an *orphan*, for a live process to
claim and replay (:mod:`gateway.journal`).
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from contracts.exchange import ExchangeRecord

JOURNAL_DIR = "journal"  # under the state directory
_LOCK = ".lock"
_SEGMENT = ".jsonl"
_READ_CHUNK = 1 << 20  # bytes read from a journal file at a time


def segment_path(directory: Path, owner: str, segment: int) -> Path:
    return directory / f"{owner}.{segment:08d}{_SEGMENT}"


def lock_path(directory: Path, owner: str) -> Path:
    return directory / f"{owner}{_LOCK}"


def create_lock(directory: Path, owner: str) -> int:
    """Create and flock ``owner``'s lock file; the descriptor holds the lock until closed."""
    directory.mkdir(parents=True, exist_ok=True)
    # Locked under a temporary name, then renamed: a scanner never sees it unlocked.
    temporary = directory / f".{owner}{_LOCK}.tmp"
    fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(temporary, lock_path(directory, owner))
    except OSError:
        os.close(fd)
        raise
    return fd


@dataclass(slots=True)
class Orphan:
    """A dead process's journal a drainer has claimed and is replaying."""

    lock_path: Path
    fd: int
    segments: list[Path]
    offset: int = 0


def claim_orphan(directory: Path, own: str) -> Orphan | None:
    """Lock the journal of a dead process (not ``own``), or None if there is none."""
    try:
        candidates = sorted(directory.glob(f"*{_LOCK}"))
    except FileNotFoundError:
        return None
    for lock_path in candidates:
        owner = lock_path.name.removesuffix(_LOCK)
        if owner == own:
            continue
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CLOEXEC)
        except FileNotFoundError:  # another drainer finished it meanwhile
            continue
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            # Locked, but is it still the file at that name (not one replayed and removed)?
            if os.fstat(fd).st_ino != os.stat(lock_path).st_ino:
                raise FileNotFoundError(lock_path)
        except OSError:  # alive (locked by its owner or a replaying drainer), or gone
            os.close(fd)
            continue
        segments = sorted(directory.glob(f"{owner}.*{_SEGMENT}"))
        return Orphan(lock_path, fd, segments)
    return None


def read_lines(
    path: Path, offset: int, end: int | None, max_lines: int
) -> tuple[list[ExchangeRecord], int, int, int]:
    """Up to ``max_lines`` records from ``path`` at ``offset`` (to ``end``, or to the end of file).

    Returns the records, the lines consumed, how many of them were unreadable, and the new
    offset. A last line without its newline at the end of the file is a torn write: unreadable.
    """
    try:
        with path.open("rb") as file:
            file.seek(offset)
            limit = _READ_CHUNK if end is None else min(_READ_CHUNK, end - offset)
            data = file.read(limit)
            at_eof = end is None and len(data) < limit
    except FileNotFoundError:
        return [], 0, 0, offset
    records: list[ExchangeRecord] = []
    lines = unreadable = 0
    position = 0
    while lines < max_lines:
        newline = data.find(b"\n", position)
        if newline < 0:
            if at_eof and position < len(data):  # a torn last line
                lines += 1
                unreadable += 1
                position = len(data)
            elif position == 0 and data and not at_eof:
                # No line is this long: garbage (zeros after a power cut). Skip it, counted.
                lines += 1
                unreadable += 1
                position = len(data)
            break
        try:
            records.append(ExchangeRecord.model_validate_json(data[position:newline]))
        except ValidationError:
            unreadable += 1
        lines += 1
        position = newline + 1
    return records, lines, unreadable, offset + position


def records_in(directory: Path) -> Sequence[ExchangeRecord]:
    """Every record in the journal files under ``directory`` (for ops and tests)."""
    records: list[ExchangeRecord] = []
    for path in sorted(directory.glob(f"*{_SEGMENT}")):
        offset = 0
        while True:
            chunk, lines, _, offset = read_lines(path, offset, None, 1 << 30)
            records += chunk
            if not lines:
                break
    return records
