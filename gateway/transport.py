"""The gateway's HTTP/1.1 client for the national databases: llhttp parsing, an O(1) pool.

Why not httpx's default (httpcore): its pool polls *every* idle connection on every request
and every response close, so its cost per request grows with the pool — the pool a gateway
needs when many provinces wait on one slow database (FM-01); it measured 7-20x more CPU per
request here. This transport keeps idle connections in a LIFO stack per origin (O(1) check-out).

Responses are parsed by **llhttp** (Node.js's parser, through ``httptools``, which uvicorn
already uses): strict where the hand-written parser was lenient — ``Content-Length`` digits only,
one ``Content-Length`` (duplicates refused, even equal ones), not both it and chunked, strict
chunk framing, CRLF line ends. h11 (sans-I/O, pure Python) was measured too: ~70 us of CPU per
exchange against ~3 us for llhttp (``benchmarks/transport_parsers.py``), a visible share of the
gateway's ~1.6 ms per proxied request, so llhttp it is. What llhttp leaves open is bounded here:

* at most 64 KiB (:data:`MAX_STALLED_BYTES`) may arrive without the parser making progress — a
  head, a chunk-size line, trailers;
* ``1xx`` interim responses (``100``, ``103 Early Hints``) are skipped, at most 16 of them;
  ``101`` is refused (the gateway never asks to upgrade);
* a body over ``max_response_bytes`` is refused (:class:`ResponseTooLarge`).

Connections: ``max_connections`` per origin, idle ones included, with a bounded wait for a free
one (``httpx.PoolTimeout``); a connection is reused only if its response was complete, both
sides said keep-alive and nothing arrived after the response. An idle connection that receives
anything (an unsolicited ``408``) or is closed by the provider is closed at once and leaves the
pool, so no socket lingers in CLOSE-WAIT. The read timeout runs between bytes (each wait for
data), the write timeout each wait for the send buffer to drain; the overall deadline is the
caller's (:meth:`gateway.upstream.Upstream.send`). ``https://`` origins are spoken over TLS,
verified against the system's CAs or a given CA file.

One exception boundary: only httpx exceptions leave this module (``ConnectError``,
``ReadTimeout``, ``RemoteProtocolError``, ``PoolTimeout``, ...; the subclasses
:class:`MalformedResponse`, :class:`ResponseTooLarge` and :class:`UnexpectedTransportError`
name this transport's own refusals), so :func:`gateway.upstream.map_httpx_errors` stays the
single translation into gateway errors. :class:`LeanTransport` is also an
``httpx.AsyncBaseTransport``, for the admin API's ``httpx.AsyncClient`` and for tests.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import cast

import httptools
import httpx

# Drop idle connections before a provider's keep-alive timeout can close them under us
# (uvicorn's default is 5 s).
IDLE_TTL_S = 4.0
DEFAULT_MAX_CONNECTIONS = 100
DEFAULT_MAX_RESPONSE_BYTES = 16 * 1024 * 1024
MAX_STALLED_BYTES = 64 * 1024
MAX_INTERIM_RESPONSES = 16
# Bytes are fed to the parser in slices of this size, so "bytes without progress" is known
# to within one slice whatever the socket hands over at once.
_FEED_SLICE = 8 * 1024
_RETRYABLE = frozenset({b"GET", b"HEAD", b"PUT", b"DELETE", b"OPTIONS"})

Origin = tuple[str, str, int]  # scheme, host, port
Timeouts = Mapping[str, float | None]  # httpx's extension: connect, read, write, pool


class MalformedResponse(httpx.RemoteProtocolError):
    """The provider's bytes are not a valid HTTP/1.1 response (framing, head, status)."""


class ResponseTooLarge(httpx.RemoteProtocolError):
    """The provider's body exceeds the provider's ``max_response_bytes``."""


class UnexpectedTransportError(httpx.TransportError):
    """Anything else that went wrong inside the transport (a bug here, not the provider's)."""


class _Stale(Exception):
    """A reused connection ended before any byte of the response: safe to retry idempotents."""


class _StopParsing(Exception):
    """Raised in a parser callback to stop feeding (the reason is on the response)."""


class _Response:
    """One response as the parser sees it (the llhttp callbacks) — one per exchange."""

    __slots__ = (
        "body",
        "complete",
        "error",
        "extra",
        "framed",
        "head_done",
        "head_only",
        "headers",
        "interim",
        "keep_alive",
        "max_bytes",
        "parser",
        "progress",
        "received",
        "size",
        "stalled",
        "status",
    )

    def __init__(self, head_only: bool, max_bytes: int) -> None:
        self.head_only = head_only
        self.max_bytes = max_bytes
        self.parser = httptools.HttpResponseParser(self)
        self.status = 0
        self.headers: list[tuple[bytes, bytes]] = []
        self.body: list[bytes] = []
        self.size = 0
        self.received = 0
        self.stalled = 0
        self.interim = 0
        self.framed = False  # Content-Length or Transfer-Encoding: not delimited by close
        self.head_done = False
        self.complete = False
        self.keep_alive = False
        self.extra = False  # bytes after the end of the response
        self.progress = False
        self.error: httpx.TransportError | None = None

    def feed(self, data: bytes) -> None:
        """Parse what arrived; a refusal lands in ``error``, never raises."""
        self.received += len(data)
        try:
            if len(data) <= _FEED_SLICE:
                self._feed_slice(data)
            else:
                view = memoryview(data)
                for start in range(0, len(data), _FEED_SLICE):
                    self._feed_slice(view[start : start + _FEED_SLICE])
        except _StopParsing:
            pass  # the reason is already on the response
        except httptools.HttpParserError as exc:
            if self.complete:  # whatever follows a complete response spoils the connection
                self.extra = True
            elif self.error is None:
                self.error = MalformedResponse(f"malformed response from the provider: {exc}")
        except Exception as exc:  # the transport's boundary: only httpx exceptions leave
            self.error = UnexpectedTransportError(f"{type(exc).__name__}: {exc}")

    def _feed_slice(self, data: bytes | memoryview) -> None:
        self.progress = False
        self.parser.feed_data(data)
        if self.progress:
            self.stalled = 0
        else:
            self.stalled += len(data)
            if self.stalled > MAX_STALLED_BYTES:
                self._refuse(
                    MalformedResponse(f"over {MAX_STALLED_BYTES} bytes of head or framing")
                )

    def _refuse(self, error: httpx.TransportError) -> None:
        self.error = error
        raise _StopParsing

    def end_of_stream(self) -> None:
        """The provider closed: that ends a body delimited by the close, and nothing else."""
        if self.head_done and not self.complete and not self.framed and self.error is None:
            self.complete = True
            self.keep_alive = False

    # -- llhttp callbacks ---------------------------------------------------------------------

    def on_message_begin(self) -> None:
        if self.complete:  # a second response nobody asked for: the connection is spoiled
            self.extra = True
            raise _StopParsing

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))
        lower = name.lower()
        if lower == b"content-length" or lower == b"transfer-encoding":
            self.framed = True

    def on_headers_complete(self) -> None:
        status = self.parser.get_status_code()
        self.progress = True
        if status < 200:
            if status == 101:
                self._refuse(MalformedResponse("101 Switching Protocols was never asked for"))
            return
        self.status = status
        self.head_done = True
        self.keep_alive = self.parser.should_keep_alive()
        if self.head_only:  # a HEAD response has no body, whatever its head says
            self.complete = True
            self.keep_alive = False
            raise _StopParsing

    def on_body(self, data: bytes) -> None:
        self.progress = True
        self.size += len(data)
        if self.size > self.max_bytes:
            self._refuse(ResponseTooLarge(f"the response body exceeds {self.max_bytes} bytes"))
        self.body.append(data)

    def on_chunk_header(self) -> None:
        self.progress = True

    def on_message_complete(self) -> None:
        self.progress = True
        if self.head_done:
            self.complete = True
            return
        # An interim (1xx) response: skipped, and the final one parsed afresh.
        self.interim += 1
        if self.interim > MAX_INTERIM_RESPONSES:
            self._refuse(MalformedResponse(f"over {MAX_INTERIM_RESPONSES} interim responses"))
        self.headers = []
        self.framed = False


class _Connection(asyncio.Protocol):
    """One socket to a provider; feeds the current exchange's parser as bytes arrive."""

    def __init__(self, pool: _Pool) -> None:
        self.pool = pool
        self.transport: asyncio.Transport | None = None
        self.response: _Response | None = None  # None: idle
        self.waiter: asyncio.Future[bool] | None = None
        self.lost = False
        self.lost_exc: Exception | None = None
        self.paused = False
        self.counted = True  # holds one of the pool's slots
        self.idle = False
        self.reused = False
        self.idle_since = 0.0

    # -- asyncio.Protocol ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a stream socket

    def data_received(self, data: bytes) -> None:
        response = self.response
        if response is None or response.complete:
            # Bytes nobody asked for (an unsolicited 408 on an idle connection): unusable.
            if response is not None:
                response.extra = True
            self.close(abort=True)
            return
        response.feed(data)
        if response.error is not None:
            self.close(abort=True)
        self._wake()

    def eof_received(self) -> bool:
        return False  # close our side too: no half-closed socket left in CLOSE-WAIT

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        self.lost_exc = exc
        if self.response is not None:
            self.response.end_of_stream()
        else:
            self.pool.forget(self)
        self._wake()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._wake()

    # -- waiting without a timeout object per read --------------------------------------------

    def _wake(self) -> None:
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(True)

    async def _wait(self, timeout_s: float | None) -> bool:
        """Wait for anything to happen on the socket; False if ``timeout_s`` passed first."""
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[bool] = loop.create_future()
        self.waiter = waiter
        timer = None if timeout_s is None else loop.call_later(timeout_s, _expire, waiter)
        try:
            return await waiter
        finally:
            self.waiter = None
            if timer is not None:
                timer.cancel()

    # -- one exchange -------------------------------------------------------------------------

    def usable(self, now: float) -> bool:
        transport = self.transport
        return (
            not self.lost
            and transport is not None
            and not transport.is_closing()
            and now - self.idle_since < IDLE_TTL_S
        )

    async def send(self, payload: bytes, head_only: bool, timeouts: Timeouts) -> _Response:
        """Write the request and wait for the final response's head."""
        response = self.response = _Response(head_only, self.pool.max_response_bytes)
        transport = self.transport
        if self.lost or transport is None or transport.is_closing():
            raise _Stale if self.reused else httpx.WriteError("the connection closed")
        transport.write(payload)
        write_s = timeouts.get("write")
        while self.paused and not self.lost:
            if response.complete:  # answered before the request was all sent: not reusable
                response.extra = True
                break
            if not await self._wait(write_s):
                raise httpx.WriteTimeout("timed out sending the request")
        if self.lost and not response.head_done:
            if response.received == 0 and self.reused:
                raise _Stale
            if response.received == 0 and self.lost_exc is not None:
                raise httpx.WriteError(f"sending the request: {self.lost_exc}")
        read_s = timeouts.get("read")
        while not response.head_done and response.error is None and not self.lost:
            if not await self._wait(read_s):
                raise httpx.ReadTimeout("timed out waiting for the response")
        if response.error is not None:
            raise response.error
        if not response.head_done:
            if response.received == 0 and self.reused:
                raise _Stale
            if self.lost_exc is not None:
                raise httpx.ReadError(str(self.lost_exc) or type(self.lost_exc).__name__)
            raise httpx.RemoteProtocolError("Server disconnected without sending a response.")
        return response

    async def read_body(self, response: _Response, read_s: float | None) -> bytes:
        """The rest of the body; the read timeout applies to each wait for bytes."""
        while not response.complete and response.error is None and not self.lost:
            if not await self._wait(read_s):
                raise httpx.ReadTimeout("timed out reading the response body")
        if response.error is not None:
            raise response.error
        if not response.complete:
            if self.lost_exc is not None:
                raise httpx.ReadError(str(self.lost_exc) or type(self.lost_exc).__name__)
            raise httpx.RemoteProtocolError(
                "peer closed connection without sending complete message body"
            )
        return b"".join(response.body)

    def close(self, *, abort: bool = False) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            if abort:
                transport.abort()
            else:
                transport.close()
        self.pool.forget(self)


def _expire(waiter: asyncio.Future[bool]) -> None:
    if not waiter.done():
        waiter.set_result(False)


_EXPIRED = object()


class _Pool:
    """The connections to one origin: an idle stack and at most ``max_connections`` open."""

    def __init__(
        self,
        origin: Origin,
        max_connections: int,
        max_response_bytes: int,
        ssl_context: ssl.SSLContext | None,
    ) -> None:
        self.origin = origin
        self.max_connections = max_connections
        self.max_response_bytes = max_response_bytes
        self.ssl_context = ssl_context
        self.idle: list[_Connection] = []
        self.opened = 0  # open or opening, idle included: the sockets the provider sees
        self.waiters: deque[asyncio.Future[object]] = deque()

    async def acquire(self, timeouts: Timeouts, *, fresh: bool = False) -> _Connection:
        """An idle connection, a new one, or — at the cap — the next one freed."""
        if not fresh:
            now = time.monotonic()
            while self.idle:
                conn = self.idle.pop()
                conn.idle = False
                if conn.usable(now):
                    conn.reused = True
                    return conn
                conn.close()
        if self.opened < self.max_connections and not self.waiters:
            self.opened += 1
            return await self._open(timeouts.get("connect"))
        handed = await self._wait(timeouts.get("pool"))
        if isinstance(handed, _Connection):
            return handed
        return await self._open(timeouts.get("connect"))  # a slot was handed over

    async def _wait(self, pool_s: float | None) -> object:
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[object] = loop.create_future()
        self.waiters.append(waiter)
        timer = None if pool_s is None else loop.call_later(pool_s, _expire_wait, waiter)
        try:
            handed = await waiter
        except BaseException:
            # Cancelled (the caller's deadline): give back whatever was handed over meanwhile.
            if waiter.done() and not waiter.cancelled():
                self._give_back(waiter.result())
            raise
        finally:
            if timer is not None:
                timer.cancel()
            if waiter in self.waiters:
                self.waiters.remove(waiter)
        if handed is _EXPIRED:
            raise httpx.PoolTimeout(
                f"all {self.max_connections} connections to {self.origin[1]}:{self.origin[2]} "
                f"stayed busy for {pool_s:g} s"
            )
        return handed

    def _give_back(self, handed: object) -> None:
        if isinstance(handed, _Connection):
            self.release(handed, reusable=True)
        elif handed is None:
            self._free_slot()

    async def _open(self, connect_s: float | None) -> _Connection:
        scheme, host, port = self.origin
        loop = asyncio.get_running_loop()
        tls = self.ssl_context if scheme == "https" else None
        created: list[_Connection] = []

        def protocol() -> _Connection:
            conn = _Connection(self)
            created.append(conn)
            return conn

        def failed() -> None:
            for conn in created:
                conn.counted = False  # its slot is freed here, not again when it is lost
            self._free_slot()

        try:
            async with asyncio.timeout(connect_s):
                _, conn = await loop.create_connection(
                    protocol,
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                )
        except TimeoutError:
            failed()
            raise httpx.ConnectTimeout(f"timed out connecting to {host}:{port}") from None
        except OSError as exc:  # refused, unreachable, TLS verification failed, ...
            failed()
            raise httpx.ConnectError(f"{host}:{port}: {exc}") from exc
        except BaseException:
            failed()
            raise
        return conn

    def release(self, conn: _Connection, *, reusable: bool) -> None:
        """Back to a waiter or the idle stack if it can carry another exchange; else closed."""
        conn.response = None
        if not reusable or conn.lost or conn.transport is None or conn.transport.is_closing():
            conn.close()
            return
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                conn.reused = True
                waiter.set_result(conn)
                return
        conn.idle_since = time.monotonic()
        conn.idle = True
        self.idle.append(conn)

    def forget(self, conn: _Connection) -> None:
        """A connection closed: its slot goes to the next waiter, or back to the pool."""
        if not conn.counted:
            return
        conn.counted = False
        if conn.idle:
            conn.idle = False
            self.idle.remove(conn)  # closed while idle (rare): O(n) is fine
        self._free_slot()

    def _free_slot(self) -> None:
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)  # the slot passes to the waiter: opened is unchanged
                return
        self.opened -= 1

    def close(self) -> None:
        for conn in list(self.idle):
            conn.close()


def _expire_wait(waiter: asyncio.Future[object]) -> None:
    if not waiter.done():
        waiter.set_result(_EXPIRED)


class RawResponse:
    """A final response whose head has arrived; :meth:`aread` gets the body exactly once."""

    __slots__ = ("_conn", "_read_s", "_response", "headers", "status")

    def __init__(self, conn: _Connection, response: _Response, read_s: float | None) -> None:
        self._conn = conn
        self._response = response
        self._read_s = read_s
        self.status = response.status
        self.headers = response.headers

    async def aread(self) -> bytes:
        """The whole body; the connection goes back to the pool if it can be reused.

        Raises:
            httpx.TransportError: only httpx's (read timeout between bytes, reset, FIN
                mid-body, malformed framing, over the size cap, ...).
        """
        conn, response = self._conn, self._response
        try:
            body = await conn.read_body(response, self._read_s)
        except httpx.HTTPError:
            conn.close(abort=True)
            raise
        except Exception as exc:
            conn.close(abort=True)
            raise UnexpectedTransportError(f"{type(exc).__name__}: {exc}") from exc
        except BaseException:
            conn.close(abort=True)
            raise
        conn.pool.release(conn, reusable=response.keep_alive and not response.extra)
        return body

    def aclose(self) -> None:
        """Give up on the body (after :meth:`aread` this does nothing)."""
        if self._conn.response is self._response:
            self._conn.close(abort=True)


class LeanTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 (and over TLS) with a per-origin stack of idle connections and a cap."""

    def __init__(
        self,
        *,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        ca_file: Path | None = None,
    ) -> None:
        self.max_connections = max_connections
        self.max_response_bytes = max_response_bytes
        self._ca_file = ca_file
        self._ssl: ssl.SSLContext | None = None
        self._pools: dict[Origin, _Pool] = {}

    def _pool(self, origin: Origin) -> _Pool:
        pool = self._pools.get(origin)
        if pool is None:
            if origin[0] == "https" and self._ssl is None:
                # Verified: the system's trust store, or the registry's CA file.
                self._ssl = ssl.create_default_context(
                    cafile=str(self._ca_file) if self._ca_file else None
                )
            pool = self._pools[origin] = _Pool(
                origin, self.max_connections, self.max_response_bytes, self._ssl
            )
        return pool

    async def open(
        self,
        origin: Origin,
        method: bytes,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: Timeouts,
    ) -> RawResponse:
        """Send one request (``headers`` complete: Host and framing included); the head back.

        Raises:
            httpx.TransportError: only httpx's (``ConnectError``, ``PoolTimeout``,
                ``WriteError``, ``ReadTimeout``, ``RemoteProtocolError``, ...).
        """
        try:
            payload = _serialize(method, target, headers, body)
            pool = self._pool(origin)
            head_only = method == b"HEAD"
            conn = await pool.acquire(timeouts)
            try:
                response = await self._send(conn, payload, head_only, timeouts)
            except _Stale:
                # A reused connection the provider had closed: nothing was answered, so an
                # idempotent request may go again, on a new connection.
                if method not in _RETRYABLE:
                    raise httpx.RemoteProtocolError(
                        "the provider closed a kept-alive connection"
                    ) from None
                conn = await pool.acquire(timeouts, fresh=True)
                try:
                    response = await self._send(conn, payload, head_only, timeouts)
                except _Stale:
                    raise httpx.RemoteProtocolError(
                        "Server disconnected without sending a response."
                    ) from None
        except httpx.HTTPError:
            raise
        except Exception as exc:
            raise UnexpectedTransportError(f"{type(exc).__name__}: {exc}") from exc
        return RawResponse(conn, response, timeouts.get("read"))

    @staticmethod
    async def _send(
        conn: _Connection, payload: bytes, head_only: bool, timeouts: Timeouts
    ) -> _Response:
        try:
            return await conn.send(payload, head_only, timeouts)
        except BaseException:
            conn.close(abort=True)
            raise

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """httpx's transport interface (the admin API's clients, tests)."""
        url = request.url
        if url.scheme not in ("http", "https"):
            raise httpx.UnsupportedProtocol(f"only http:// and https:// providers: {url}")
        default_port = 443 if url.scheme == "https" else 80
        origin = (url.scheme, url.host, url.port or default_port)
        timeouts: Timeouts = request.extensions.get("timeout", {})
        body = await request.aread()
        raw = await self.open(
            origin, request.method.encode(), url.raw_path, request.headers.raw, body, timeouts
        )
        return httpx.Response(
            raw.status,
            headers=raw.headers,
            stream=_BodyStream(raw),
            request=request,
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        for pool in self._pools.values():
            pool.close()
        self._pools.clear()


class _BodyStream(httpx.AsyncByteStream):
    def __init__(self, raw: RawResponse) -> None:
        self._raw = raw

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield await self._raw.aread()

    async def aclose(self) -> None:
        self._raw.aclose()


def _serialize(
    method: bytes, target: bytes, headers: list[tuple[bytes, bytes]], body: bytes
) -> bytes:
    lines = [method + b" " + target + b" HTTP/1.1"]
    lines += [name + b": " + value for name, value in headers]
    head = b"\r\n".join(lines)
    if head.count(b"\n") != len(lines) - 1 or head.count(b"\r") != len(lines) - 1:
        # Every field we forward was parsed by a server, so this is our bug, not the caller's.
        raise httpx.LocalProtocolError("a CR or LF inside the request line or a header")
    return head + b"\r\n\r\n" + body
