"""A lean HTTP/1.1 keep-alive transport for the gateway's provider clients.

Why not httpx's default (httpcore): its pool polls *every* idle connection (a ``poll`` syscall
through anyio's socket attributes) on every request and every response close, so its cost per
request grows with the pool — the pool a gateway needs when many provinces wait on one slow
database (FM-01). Profiled at 300–600 proxied req/s, that was most of the gateway's CPU. This
transport keeps idle connections in a LIFO stack and checks them in O(1) per request.

It speaks plain HTTP/1.1 (``Content-Length``, chunked, or read-to-close bodies), never follows
redirects, and raises *httpx's* exceptions (``ConnectError``, ``ReadTimeout``,
``RemoteProtocolError``, ...), so the single translation boundary
(:func:`gateway.upstream.map_httpx_errors`) and every timeout stay as they are. It is an
``httpx.AsyncBaseTransport``: the clients are still ``httpx.AsyncClient``, and tests still
inject their own transports.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field

import httpx

# Drop idle connections before a provider's keep-alive timeout can close them under us
# (uvicorn's default is 5 s).
IDLE_TTL_S = 4.0
MAX_IDLE_PER_ORIGIN = 256
_MAX_HEAD = 64 * 1024
_NO_BODY_STATUSES = frozenset({204, 304})
_RETRYABLE = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})


@dataclass(slots=True)
class _Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    idle_since: float = field(default_factory=time.monotonic)
    reused: bool = False

    def usable(self) -> bool:
        fresh = time.monotonic() - self.idle_since < IDLE_TTL_S
        return fresh and not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        self.writer.close()


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio streams, with a per-origin stack of idle connections."""

    def __init__(self) -> None:
        self._idle: dict[tuple[str, int], list[_Connection]] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.scheme != "http":
            raise httpx.UnsupportedProtocol(f"only http:// providers: {request.url}")
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        body = await request.aread()
        head = _request_head(request)
        origin = (request.url.host, request.url.port or 80)
        conn = self._checkout(origin)
        if conn is None:
            conn = await _connect(origin, timeouts.get("connect"))
        try:
            return await self._exchange(conn, request, head + body, timeouts, origin)
        except _StaleConnection:
            # A reused connection the provider had closed: nothing was answered, so an
            # idempotent request may go again, on a new connection.
            if request.method not in _RETRYABLE:
                raise httpx.RemoteProtocolError(
                    "the provider closed a kept-alive connection"
                ) from None
            fresh = await _connect(origin, timeouts.get("connect"))
            try:
                return await self._exchange(fresh, request, head + body, timeouts, origin)
            except _StaleConnection:
                raise httpx.RemoteProtocolError(
                    "Server disconnected without sending a response."
                ) from None

    async def _exchange(
        self,
        conn: _Connection,
        request: httpx.Request,
        payload: bytes,
        timeouts: dict[str, float | None],
        origin: tuple[str, int],
    ) -> httpx.Response:
        try:
            conn.writer.write(payload)
            try:
                async with asyncio.timeout(timeouts.get("write")):
                    await conn.writer.drain()
            except TimeoutError:
                raise httpx.WriteTimeout("timed out sending the request") from None
            status, headers, keep_alive, body = await _read_response(
                conn, request.method, timeouts.get("read")
            )
        except BaseException:
            conn.close()
            raise
        if keep_alive:
            self._checkin(origin, conn)
        else:
            conn.close()
        return httpx.Response(
            status,
            headers=headers,
            content=body,
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    def _checkout(self, origin: tuple[str, int]) -> _Connection | None:
        stack = self._idle.get(origin)
        while stack:
            conn = stack.pop()
            if conn.usable():
                conn.reused = True
                return conn
            conn.close()
        return None

    def _checkin(self, origin: tuple[str, int], conn: _Connection) -> None:
        stack = self._idle.setdefault(origin, [])
        if len(stack) >= MAX_IDLE_PER_ORIGIN:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        stack.append(conn)

    async def aclose(self) -> None:
        for stack in self._idle.values():
            for conn in stack:
                conn.close()
        self._idle.clear()


class _StaleConnection(Exception):
    """A reused connection ended before any byte of the response."""


async def _connect(origin: tuple[str, int], connect_s: float | None) -> _Connection:
    try:
        async with asyncio.timeout(connect_s):
            reader, writer = await asyncio.open_connection(*origin, limit=_MAX_HEAD)
    except TimeoutError:
        raise httpx.ConnectTimeout(f"timed out connecting to {origin[0]}:{origin[1]}") from None
    except OSError as exc:
        raise httpx.ConnectError(str(exc)) from exc
    return _Connection(reader, writer)


def _request_head(request: httpx.Request) -> bytes:
    lines = [request.method.encode() + b" " + request.url.raw_path + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in request.headers.raw]
    return b"\r\n".join(lines) + b"\r\n\r\n"


async def _read_response(
    conn: _Connection, method: str, read_timeout: float | None
) -> tuple[int, list[tuple[bytes, bytes]], bool, bytes]:
    reader = conn.reader
    try:
        async with asyncio.timeout(read_timeout):
            raw_head = await reader.readuntil(b"\r\n\r\n")
    except TimeoutError:
        raise httpx.ReadTimeout("timed out waiting for the response") from None
    except asyncio.IncompleteReadError as exc:
        if not exc.partial and conn.reused:
            raise _StaleConnection from None
        raise httpx.RemoteProtocolError("Server disconnected without sending a response.") from None
    except asyncio.LimitOverrunError:
        raise httpx.RemoteProtocolError("response head too large") from None
    except OSError as exc:
        if conn.reused and isinstance(exc, ConnectionResetError):
            raise _StaleConnection from None
        raise httpx.ReadError(str(exc)) from exc

    status_line, *header_lines = raw_head[:-4].split(b"\r\n")
    version, _, rest = status_line.partition(b" ")
    try:
        status = int(rest[:3])
    except ValueError:
        raise httpx.RemoteProtocolError(f"malformed status line {status_line!r}") from None
    headers: list[tuple[bytes, bytes]] = []
    length: int | None = None
    chunked = False
    keep_alive = version == b"HTTP/1.1"
    for line in header_lines:
        name, sep, value = line.partition(b":")
        if not sep:
            raise httpx.RemoteProtocolError(f"malformed header line {line!r}")
        value = value.strip()
        lower = name.strip().lower()
        headers.append((name.strip(), value))
        if lower == b"content-length":
            length = int(value)
        elif lower == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
        elif lower == b"connection":
            keep_alive = keep_alive and b"close" not in value.lower()

    if method == "HEAD" or status in _NO_BODY_STATUSES or status < 200:
        return status, headers, keep_alive, b""
    try:
        async with asyncio.timeout(read_timeout):
            if chunked:
                body = await _read_chunked(reader)
            elif length is not None:
                body = await reader.readexactly(length)
            else:
                body, keep_alive = await reader.read(), False
    except TimeoutError:
        raise httpx.ReadTimeout("timed out reading the response body") from None
    except asyncio.IncompleteReadError:
        raise IncompleteBody(
            "peer closed connection without sending complete message body", headers
        ) from None
    except OSError as exc:
        raise BrokenBody(str(exc), headers) from exc
    return status, headers, keep_alive, body


class HeadReceived(Exception):
    """Mixed into the errors of a body that broke after its head arrived: the head's headers
    are kept, so the gateway can still log what the provider said (its injected fault)."""

    def __init__(
        self,
        message: str,
        headers: list[tuple[bytes, bytes]] | None = None,
        *,
        request: httpx.Request | None = None,
    ) -> None:
        # The httpx signature (message, *, request) still works: code that builds any
        # httpx error generically can build these too.
        if request is None:
            super().__init__(message)
        else:
            super().__init__(message, request=request)  # type: ignore[call-arg]
        self.response_headers = httpx.Headers(headers or [])


class IncompleteBody(HeadReceived, httpx.RemoteProtocolError):
    """The provider closed the connection in the middle of the body."""


class BrokenBody(HeadReceived, httpx.ReadError):
    """The connection failed (e.g. reset) in the middle of the body."""


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = await reader.readuntil(b"\r\n")
        try:
            size = int(size_line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            raise httpx.RemoteProtocolError("malformed chunk size") from None
        if size == 0:
            # Trailers (rare) end with an empty line; they are not passed on.
            while await reader.readuntil(b"\r\n") != b"\r\n":
                pass
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)
