"""The exchange log (nhật ký trao đổi): one record per exchange, written off the request path.

The request path only calls :meth:`ExchangeLog.submit`, which appends the record to this
process's journal (:mod:`gateway.journal`: one ``write``, no fsync, durable against the process
being killed) before the answer leaves; a drainer stores batches in a :class:`RecordStore`,
and a restarted gateway replays what a killed process left in its journal. A record that cannot
be journaled (journal full, disk error) is counted in ``dropped`` (exported as
``ndxp_exchange_log_dropped_total``) and warned about: never lost silently.

This module is the interface — :class:`ExchangeLog`, the :class:`RecordStore` seam, the
:class:`ExchangeQuery` filters, the masking of personal ids in free text (``detail``), applied
before anything reaches the disk — and :func:`open_exchange_log`, which picks the store from
the settings: :class:`gateway.exchange_log_sqlite.SqliteRecordStore` by default,
``gateway.exchange_log_postgres.PostgresRecordStore`` for ``postgresql://`` URLs.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal, Protocol
from urllib.parse import unquote

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.exchange import ExchangePage, ExchangeRecord

if TYPE_CHECKING:
    from ndxp_config.settings import JournalSettings

# ``\d`` is any script's decimal digit: full-width or Arabic-Indic digits are still digits.
_PERSONAL_ID = re.compile(r"(?<!\d)(?:\d{12}|\d{9})(?!\d)")
_DECODE_ROUNDS = 3  # %2530 → %30 → 0: layered percent-encoding, a few layers deep


def _mask(match: re.Match[str]) -> str:
    digits = match.group()
    if len(digits) == 12:
        return digits[:3] + "*****" + digits[-4:]
    return "*****" + digits[-4:]


def _decoded(text: str) -> str:
    for _ in range(_DECODE_ROUNDS):
        if "%" not in text:
            break
        once = unquote(text)
        if once == text:
            break
        text = once
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


def mask_personal_ids(text: str) -> str:
    """Mask personal ids in free text.

    12-digit personal ids (*số định danh cá nhân*) keep the province code and the last four
    digits (``038090001234`` → ``038*****1234``); 9-digit old identity-card numbers (*CMND*)
    keep the last four (``*****6789``). Only whole runs of exactly 12 or 9 digits are masked,
    so phone numbers (10 digits) and longer numbers pass unchanged.

    An id cannot hide behind an encoding: the text is also read percent-decoded (a few
    layers: ``%30%33%38…``, ``%2530…``) and NFKC-normalised (full-width digits), and digits
    of any script count. When that reading reveals an id, the decoded text is returned,
    masked; otherwise the text keeps its form and length.
    """
    masked = _PERSONAL_ID.sub(_mask, text)
    decoded = _decoded(masked)
    if decoded == masked:
        return masked
    revealed = _PERSONAL_ID.sub(_mask, decoded)
    return revealed if revealed != decoded else masked


class ExchangeQuery(BaseModel):
    """Filters and paging for the admin API; every filter is optional.

    ``since`` (inclusive) and ``until`` (exclusive) apply to ``request_in_ts``.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    consumer: str | None = None
    provider: str | None = None
    service: str | None = None
    outcome: str | None = None
    since: AwareDatetime | None = None
    until: AwareDatetime | None = None
    limit: int = Field(default=100, ge=1, le=1000)
    offset: int = Field(default=0, ge=0)


class RecordStore(Protocol):
    """Where the journal's drainer puts records, and what the admin API reads.

    Implemented by :class:`gateway.exchange_log_sqlite.SqliteRecordStore` and (for
    ``postgresql://`` URLs) ``gateway.exchange_log_postgres.PostgresRecordStore``. The request
    path never touches a store: records reach it through the journal
    (:class:`gateway.journal.JournaledExchangeLog`), which retries a failed ``write`` and, after
    a crash, replays records a store may already hold.
    """

    async def open(self) -> None:
        """Create or migrate the schema; called once before any other method."""
        ...

    async def write(self, records: Sequence[ExchangeRecord]) -> None:
        """Store ``records`` (one transaction), idempotent on ``exchange_id``.

        A replay after a crash must not duplicate: a record whose ``exchange_id`` is already
        stored is skipped. Raises on failure: the records stay in the journal and are retried.
        """
        ...

    async def query(self, q: ExchangeQuery) -> ExchangePage:
        """Records matching ``q``, newest first, one page, with the total over all pages."""
        ...

    async def get(self, exchange_id: str) -> ExchangeRecord | None:
        """One record by id, or None."""
        ...

    def export(self, q: ExchangeQuery, fmt: Literal["jsonl", "csv"]) -> AsyncIterator[bytes]:
        """Every record matching ``q`` (limit and offset ignored), oldest first, in chunks."""
        ...

    async def close(self) -> None:
        """Release connections; idempotent."""
        ...


class ExchangeLog(Protocol):
    """Where exchange records go: the journal in front of a :class:`RecordStore`."""

    async def start(self) -> None:
        """Open the store, then start the drainer (which replays journals of dead processes)."""
        ...

    def submit(self, record: ExchangeRecord) -> None:
        """Journal a record: O(1), never blocks, never raises (a failure counts in ``dropped``).

        When it returns, the record survives this process being killed.
        """
        ...

    @property
    def dropped(self) -> int:
        """Records that will never be stored: journal full or unwritable, malformed, closed."""
        ...

    async def flush(self) -> None:
        """Wait until every record submitted so far is in the store."""
        ...

    async def close(self) -> None:
        """Store what is journaled (or leave it for the next start), then stop."""
        ...

    async def query(self, q: ExchangeQuery) -> ExchangePage:
        """Records matching ``q``, newest first, one page."""
        ...

    async def get(self, exchange_id: str) -> ExchangeRecord | None:
        """One record by id, or None."""
        ...

    def export(self, q: ExchangeQuery, fmt: Literal["jsonl", "csv"]) -> AsyncIterator[bytes]:
        """Every record matching ``q`` (limit and offset ignored), oldest first, in chunks."""
        ...


def open_record_store(url: str | None, state_dir: Path) -> RecordStore:
    """The store named by ``settings.gateway.exchange_log_url``.

    None means SQLite at ``state_dir/exchanges.db``; ``sqlite:///<path>`` picks another file
    (a relative path is taken under ``state_dir``); ``postgresql://...`` is PostgreSQL.
    """
    from gateway.exchange_log_sqlite import DEFAULT_FILE, SqliteRecordStore, sqlite_path_from_url

    if url is None:
        return SqliteRecordStore(state_dir / DEFAULT_FILE)
    if url.startswith(("postgresql://", "postgres://", "postgresql+")):
        # Imported lazily: the PostgreSQL driver is only needed when it is configured.
        from gateway.exchange_log_postgres import PostgresRecordStore  # type: ignore[import-not-found,unused-ignore]

        store: RecordStore = PostgresRecordStore(url)
        return store
    return SqliteRecordStore(sqlite_path_from_url(url, state_dir))


def open_exchange_log(
    url: str | None, state_dir: Path, journal: JournalSettings | None = None
) -> ExchangeLog:
    """The journaled log over the store named by ``url`` (see :func:`open_record_store`).

    The journal lives in ``state_dir/journal``; ``journal`` is its policy (the settings'
    ``gateway.journal``; defaults when None).
    """
    from gateway.journal import JOURNAL_DIR, JournaledExchangeLog

    return JournaledExchangeLog(open_record_store(url, state_dir), state_dir / JOURNAL_DIR, journal)
