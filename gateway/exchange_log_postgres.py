"""The shared exchange log store: PostgreSQL, for several gateway instances (``postgresql://``).

:class:`PostgresRecordStore` is the :class:`gateway.exchange_log.RecordStore` behind the
journal (:mod:`gateway.journal`), with psycopg 3. A ``write`` is one transaction: ``COPY`` the
batch into a temporary staging table, then ``INSERT … SELECT … ON CONFLICT (exchange_id) DO
NOTHING`` — the bulk speed of COPY, and a replayed batch (after a crash, or a retry whose
commit was lost) stores nothing twice. A failed write raises: the journal keeps the records
and retries, so while PostgreSQL is down the gateway goes on routing and the records wait on
disk (bounded by ``journal.max_bytes``), then reach PostgreSQL when it returns.

The schema lives in its own PostgreSQL schema (``ndxp`` by default; ``?schema=name`` in the URL
picks another, as the tests do) and is created or migrated at start-up: ``schema_version``
holds the last migration applied, and every migration runs under an advisory lock, so workers
starting together do not race. A PostgreSQL that is down at start-up does not stop the
gateway: the schema is then made by the first write that gets through.

Columns mirror :mod:`gateway.exchange_log_sqlite` with native types (``timestamptz``,
``boolean``, ``jsonb``), with an index for every admin filter (consumer, provider, service and
outcome, each with the time; the time alone). Exports are byte-identical to the SQLite store's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import psycopg
import structlog
from psycopg import sql
from psycopg.rows import TupleRow

from contracts.exchange import ExchangePage, ExchangeRecord
from gateway.exchange_log import ExchangeQuery, mask_personal_ids
from gateway.exchange_log_sqlite import FIELDS, _csv_bytes, _csv_cells

DEFAULT_SCHEMA = "ndxp"
CONNECT_TIMEOUT_S = 5
STATEMENT_TIMEOUT_MS = 30_000
_ADVISORY_LOCK = 0x6E6478705F6C6F67  # "ndxp_log": one migration at a time, across processes
_R = TypeVar("_R")
_log = structlog.get_logger(__name__)

_TYPES: dict[str, str] = {
    "exchange_id": "text NOT NULL",
    "trace_id": "text NOT NULL",
    "consumer": "text",
    "provider": "text",
    "service": "text",
    "method": "text NOT NULL",
    "path_template": "text",
    "status_code": "integer NOT NULL",
    "outcome": "text NOT NULL",
    "succeeded": "boolean NOT NULL",
    "fault_code": "text",
    "injected_fault": "text",
    "request_in_ts": "timestamptz NOT NULL",
    "request_out_ts": "timestamptz",
    "response_in_ts": "timestamptz",
    "response_out_ts": "timestamptz NOT NULL",
    "duration_ms": "double precision NOT NULL",
    "upstream_ms": "double precision",
    "request_size": "bigint NOT NULL",
    "response_size": "bigint NOT NULL",
    "quota_remaining": "bigint",
    "contract_violations": "jsonb NOT NULL",
    "detail": "text",
}
assert tuple(_TYPES) == FIELDS, "the PostgreSQL columns must follow the record fields"
_FILTERS = ("consumer", "provider", "service", "outcome")

# Migrations, in order; each runs once per schema. Append, never edit a shipped one.
_MIGRATIONS: tuple[str, ...] = (
    f"""
    CREATE TABLE {{schema}}.exchange (
        seq bigint GENERATED ALWAYS AS IDENTITY,
        {", ".join(f"{name} {kind}" for name, kind in _TYPES.items())},
        PRIMARY KEY (exchange_id)
    );
    CREATE INDEX exchange_request_in_ts ON {{schema}}.exchange (request_in_ts, seq);
    {
        "".join(
            f"CREATE INDEX exchange_{name} ON {{schema}}.exchange ({name}, request_in_ts);"
            for name in _FILTERS
        )
    }
    """,
)


def _split_url(url: str) -> tuple[str, str]:
    """The libpq URL without our ``schema`` parameter, and the schema it names."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    schema = next((value for key, value in query if key == "schema"), DEFAULT_SCHEMA)
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), schema


def _to_row(record: ExchangeRecord) -> tuple[Any, ...]:
    row: list[Any] = []
    for name in FIELDS:
        value = getattr(record, name)
        if name == "detail" and value is not None:
            value = mask_personal_ids(value)
        elif name == "contract_violations":
            value = json.dumps(value)
        row.append(value)
    return tuple(row)


def _from_row(row: Sequence[Any]) -> ExchangeRecord:
    return ExchangeRecord.model_validate(dict(zip(FIELDS, row, strict=True)))


class PostgresRecordStore:
    """:class:`gateway.exchange_log.RecordStore` on PostgreSQL, shared by every instance.

    One writer connection per process (the journal's drainer writes one batch at a time),
    reconnected after a failure; reads use short-lived connections of their own, so an admin
    export never holds up the writer.
    """

    def __init__(self, url: str, *, export_chunk_rows: int = 1000) -> None:
        if export_chunk_rows < 1:
            raise ValueError("export_chunk_rows: > 0")
        self.url, self.schema = _split_url(url)
        if not self.schema.isidentifier():
            raise ValueError(f"exchange_log_url: schema must be an identifier, got {self.schema!r}")
        self._export_chunk_rows = export_chunk_rows
        self._writer: psycopg.AsyncConnection[TupleRow] | None = None
        self._writing = asyncio.Lock()  # one transaction at a time on the writer connection
        self._migrated = False
        self._closed = False
        ident = sql.Identifier(self.schema)
        columns = sql.SQL(", ").join(map(sql.Identifier, FIELDS))
        self._table = sql.SQL("{}.exchange").format(ident)
        self._select = sql.SQL("SELECT seq, {} FROM {}").format(columns, self._table)
        self._stage = sql.SQL(
            "CREATE TEMP TABLE IF NOT EXISTS exchange_stage ON COMMIT DELETE ROWS AS "
            "SELECT {} FROM {} WITH NO DATA"
        ).format(columns, self._table)
        self._copy = sql.SQL("COPY exchange_stage ({}) FROM STDIN").format(columns)
        self._insert = sql.SQL(
            "INSERT INTO {} ({}) SELECT {} FROM exchange_stage ORDER BY request_in_ts "
            "ON CONFLICT (exchange_id) DO NOTHING"
        ).format(self._table, columns, columns)

    async def _connect(self) -> psycopg.AsyncConnection[TupleRow]:
        if self._closed:
            raise RuntimeError("the PostgreSQL record store is closed")
        conn = await psycopg.AsyncConnection.connect(
            self.url,
            connect_timeout=CONNECT_TIMEOUT_S,
            options=f"-c TimeZone=UTC -c statement_timeout={STATEMENT_TIMEOUT_MS}",
            autocommit=True,
        )
        if not self._migrated:
            try:
                await self._migrate(conn)
            except BaseException:
                await conn.close()
                raise
        return conn

    async def _migrate(self, conn: psycopg.AsyncConnection[TupleRow]) -> None:
        ident = sql.Identifier(self.schema)
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_ADVISORY_LOCK,))
            await conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
            await conn.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {}.schema_version (version integer)").format(
                    ident
                )
            )
            cur = await conn.execute(
                sql.SQL("SELECT coalesce(max(version), 0) FROM {}.schema_version").format(ident)
            )
            row = await cur.fetchone()
            applied = row[0] if row else 0
            for version, migration in enumerate(_MIGRATIONS, start=1):
                if version <= applied:
                    continue
                await conn.execute(sql.SQL(migration.replace("{schema}", "{s}")).format(s=ident))
                await conn.execute(
                    sql.SQL("INSERT INTO {}.schema_version VALUES (%s)").format(ident), (version,)
                )
                _log.info("exchange_log_schema_migrated", schema=self.schema, version=version)
        self._migrated = True

    async def open(self) -> None:
        """Create or migrate the schema; a PostgreSQL that is down is left to the first write."""
        try:
            async with self._writing:
                await self._writer_connection()
        except psycopg.OperationalError as exc:
            _log.warning("exchange_log_store_unavailable", store="postgresql", error=str(exc))

    async def _writer_connection(self) -> psycopg.AsyncConnection[TupleRow]:
        if self._writer is None or self._writer.closed:
            self._writer = await self._connect()
        return self._writer

    async def write(self, records: Sequence[ExchangeRecord]) -> None:
        """Store ``records`` in one transaction (COPY, then insert the new ids); raises on
        failure, and the next call reconnects."""
        if not records:
            return
        rows = [_to_row(record) for record in records]
        async with self._writing:
            conn = await self._writer_connection()
            try:
                async with conn.transaction():
                    await conn.execute(self._stage)
                    async with conn.cursor().copy(self._copy) as copy:
                        for row in rows:
                            await copy.write_row(row)
                    await conn.execute(self._insert)
            except BaseException:
                self._writer = None
                await conn.close()
                raise

    async def _read(self, fn: Callable[[psycopg.AsyncConnection[TupleRow]], Awaitable[_R]]) -> _R:
        conn = await self._connect()
        try:
            return await fn(conn)
        finally:
            await conn.close()

    def _where(self, q: ExchangeQuery) -> tuple[sql.Composable, list[Any]]:
        clauses: list[sql.Composable] = []
        params: list[Any] = []
        for name in _FILTERS:
            value = getattr(q, name)
            if value is not None:
                clauses.append(sql.SQL("{} = %s").format(sql.Identifier(name)))
                params.append(value)
        if q.since is not None:
            clauses.append(sql.SQL("request_in_ts >= %s"))
            params.append(q.since)
        if q.until is not None:
            clauses.append(sql.SQL("request_in_ts < %s"))
            params.append(q.until)
        if not clauses:
            return sql.SQL(""), params
        return sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses), params

    async def query(self, q: ExchangeQuery) -> ExchangePage:
        """See :meth:`gateway.exchange_log.RecordStore.query`: newest first, with the total."""
        where, params = self._where(q)

        async def run(conn: psycopg.AsyncConnection[TupleRow]) -> tuple[int, list[TupleRow]]:
            async with conn.transaction():  # one snapshot for the count and the page
                await conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
                cur = await conn.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(self._table) + where, params
                )
                counted = await cur.fetchone()
                cur = await conn.execute(
                    self._select
                    + where
                    + sql.SQL(" ORDER BY request_in_ts DESC, seq DESC LIMIT %s OFFSET %s"),
                    [*params, q.limit, q.offset],
                )
                return (counted[0] if counted else 0), await cur.fetchall()

        total, rows = await self._read(run)
        return ExchangePage(
            items=[_from_row(row[1:]) for row in rows], total=total, limit=q.limit, offset=q.offset
        )

    async def get(self, exchange_id: str) -> ExchangeRecord | None:
        """See :meth:`gateway.exchange_log.RecordStore.get`."""

        async def run(conn: psycopg.AsyncConnection[TupleRow]) -> TupleRow | None:
            cur = await conn.execute(
                self._select + sql.SQL(" WHERE exchange_id = %s"), (exchange_id,)
            )
            return await cur.fetchone()

        row = await self._read(run)
        return None if row is None else _from_row(row[1:])

    async def export(self, q: ExchangeQuery, fmt: Literal["jsonl", "csv"]) -> AsyncIterator[bytes]:
        """See :meth:`gateway.exchange_log.RecordStore.export`: oldest first, by keyset chunks
        on (``request_in_ts``, ``seq``), one short query each, on one connection."""
        if fmt not in ("jsonl", "csv"):
            raise ValueError(f"export format must be jsonl or csv, got {fmt!r}")
        where, params = self._where(q)
        joiner = sql.SQL(" AND ") if params else sql.SQL(" WHERE ")
        if fmt == "csv":
            yield _csv_bytes([list(FIELDS)])
        conn = await self._connect()
        try:
            after: tuple[datetime, int] | None = None
            while True:
                statement, args = self._select + where, list(params)
                if after is not None:
                    statement += joiner + sql.SQL("(request_in_ts, seq) > (%s, %s)")
                    args += after
                statement += sql.SQL(" ORDER BY request_in_ts, seq LIMIT %s")
                cur = await conn.execute(statement, [*args, self._export_chunk_rows])
                rows = await cur.fetchall()
                if rows:
                    records = [_from_row(row[1:]) for row in rows]
                    if fmt == "jsonl":
                        yield b"".join(r.model_dump_json().encode() + b"\n" for r in records)
                    else:
                        yield _csv_bytes(_csv_cells(record) for record in records)
                    last = rows[-1]
                    after = (last[1 + FIELDS.index("request_in_ts")], last[0])
                if len(rows) < self._export_chunk_rows:
                    return
        finally:
            await conn.close()

    async def drop_schema(self) -> None:
        """Drop this store's schema and everything in it (tests clean up with it)."""

        async def run(conn: psycopg.AsyncConnection[TupleRow]) -> None:
            await conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(self.schema))
            )

        conn = await psycopg.AsyncConnection.connect(
            self.url, connect_timeout=CONNECT_TIMEOUT_S, autocommit=True
        )
        try:
            await run(conn)
        finally:
            await conn.close()
        self._migrated = False

    async def close(self) -> None:
        """Close the writer connection; idempotent."""
        self._closed = True
        writer, self._writer = self._writer, None
        if writer is not None:
            await writer.close()
