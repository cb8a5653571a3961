"""The exchange log (nhật ký trao đổi): one record per exchange, written off the request path.

The request path only calls :meth:`ExchangeLog.submit`, an O(1) append to an in-memory queue;
a background writer stores batches. A full queue drops the record but counts it in ``dropped``
(exported as ``ndxp_exchange_log_dropped_total``) and logs a warning: never lost silently.
:meth:`ExchangeLog.close` drains everything first, so a graceful shutdown loses nothing.

This module is the interface — :class:`ExchangeLog`, the :class:`ExchangeQuery` filters, the
masking of personal ids in free text (``detail``), applied before anything reaches the disk —
and :func:`open_exchange_log`, which picks the store from the settings. The embedded default is
:class:`gateway.exchange_log_sqlite.SqliteExchangeLog`; PostgreSQL will implement the same
interface.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Literal, Protocol

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from contracts.exchange import ExchangePage, ExchangeRecord

_PERSONAL_ID = re.compile(r"(?<![0-9])(?:[0-9]{12}|[0-9]{9})(?![0-9])")


def _mask(match: re.Match[str]) -> str:
    digits = match.group()
    if len(digits) == 12:
        return digits[:3] + "*****" + digits[-4:]
    return "*****" + digits[-4:]


def mask_personal_ids(text: str) -> str:
    """Mask personal ids in free text, keeping the length.

    12-digit personal ids (*số định danh cá nhân*) keep the province code and the last four
    digits (``038090001234`` → ``038*****1234``); 9-digit old identity-card numbers (*CMND*)
    keep the last four (``*****6789``). Only whole runs of exactly 12 or 9 digits are masked,
    so phone numbers (10 digits) and longer numbers pass unchanged.
    """
    return _PERSONAL_ID.sub(_mask, text)


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
    """Where exchange records go; SQLite now, PostgreSQL later."""

    async def start(self) -> None:
        """Create the schema and start the background writer."""
        ...

    def submit(self, record: ExchangeRecord) -> None:
        """Queue a record; never blocks, never raises (a full queue counts in ``dropped``)."""
        ...

    @property
    def dropped(self) -> int:
        """Records that were not stored: queue full, submitted after close, or unwritable."""
        ...

    async def flush(self) -> None:
        """Wait until every record submitted so far is on disk."""
        ...

    async def close(self) -> None:
        """Flush, then stop the writer; nothing submitted before ``close()`` is lost."""
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


def open_exchange_log(url: str | None, state_dir: Path) -> ExchangeLog:
    """The log named by ``settings.gateway.exchange_log_url``.

    None means SQLite at ``state_dir/exchanges.db``; ``sqlite:///<path>`` picks another file
    (a relative path is taken under ``state_dir``); ``postgresql://`` comes in a later issue.
    """
    from gateway.exchange_log_sqlite import DEFAULT_FILE, SqliteExchangeLog, sqlite_path_from_url

    if url is None:
        return SqliteExchangeLog(state_dir / DEFAULT_FILE)
    if url.startswith(("postgresql://", "postgres://", "postgresql+")):
        raise NotImplementedError(
            "exchange_log_url: the PostgreSQL exchange log comes in a later issue; "
            "leave it unset to use the embedded SQLite log"
        )
    return SqliteExchangeLog(sqlite_path_from_url(url, state_dir))
