"""The gateway's HTTP/1.1 server protocol: uvicorn's httptools protocol with bounded edges.

uvicorn bounds neither the request head nor the time a client may take to send it (its
``timeout_keep_alive`` only covers the idle time *between* requests, and h11's
``h11_max_incomplete_event_size`` does not apply to the httptools parser, which the gateway
keeps for speed). :class:`EdgeProtocol` adds, per connection and at the cost of a clock
reading per request phase:

- a head deadline (``header_timeout_s``, from the first byte or the connection's opening)
  and a body deadline (``body_timeout_s``, from the end of the head): slowloris heads and
  trickled bodies are cut (RFC 9110 §15.5.9, 408);
- a size cap on the request head and a cap on its number of fields (RFC 6585 §5, 431),
  checked as the bytes arrive, so an 8 MB header is never buffered, let alone forwarded;
- chunked trailers (RFC 9112 §7.1.2) are dropped instead of joining the header fields;
- a malformed head or chunked framing (RFC 9112 §7.1) is answered by the app, not by
  uvicorn's plain-text 400.

Every refusal is handed to the app, which answers it with problem+json and records the
exchange: a refused *head* becomes a request with no body whose scope carries the error
under :data:`EDGE_ERROR`; a broken *body* ends early with the error put in the request's
scope, which :class:`gateway.edge.EdgeMiddleware` raises. After a refusal the
connection is half-closed and its remaining input read and dropped for ``linger_s`` (as
nginx's lingering close does), so the client reads the answer instead of a reset.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from functools import cache
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from gateway.errors import GatewayError, InvalidRequest, RequestHeaderFieldsTooLarge, RequestTimeout
from ndxp_config.settings import GatewaySettings

EDGE_ERROR = "ndxp.edge_error"
"""Scope key: the :class:`GatewayError` the server found in this request (head or body)."""


@dataclass(frozen=True, slots=True)
class EdgeLimits:
    """Bounds of one client connection; the defaults are those of ``GatewaySettings``."""

    max_head_bytes: int = 32_768
    max_header_count: int = 100
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    linger_s: float = 2.0

    @classmethod
    def from_settings(cls, gateway: GatewaySettings) -> EdgeLimits:
        return cls(
            max_head_bytes=gateway.max_head_bytes,
            max_header_count=gateway.max_header_count,
            header_timeout_s=gateway.header_timeout_s,
            body_timeout_s=gateway.body_timeout_s,
        )


@cache
def _limits_from_environment() -> EdgeLimits:
    # Read once per worker process, at its first connection (never at import time).
    from ndxp_config.settings import get_settings

    return EdgeLimits.from_settings(get_settings().gateway)


class _Refused(Exception):
    """Raised inside a parser callback to stop parsing at once (httptools re-raises it)."""


# Where a connection is in its current request; each phase has its deadline.
IDLE, HEAD, BODY, ANSWERING = range(4)


class EdgeProtocol(HttpToolsProtocol):
    """``uvicorn --http gateway.protocol:EdgeProtocol``; limits from the NDXP_ settings.

    :func:`edge_protocol` makes a subclass with explicit limits (tests, benchmarks).

    The deadlines cost no timer per request: each request only notes when its phase began
    (``loop.time()``), and one watchdog per connection wakes when the current phase would
    run out, cuts it if it did, or sleeps again for what is left.
    """

    limits: EdgeLimits | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        limits = self._limits = type(self).limits or _limits_from_environment()
        self._max_fields, self._max_head = limits.max_header_count, limits.max_head_bytes
        self._phase = IDLE
        self._phase_started = 0.0
        self._watchdog: asyncio.TimerHandle | None = None
        self._lingering: asyncio.TimerHandle | None = None
        self._head_bytes = 0  # bytes received while the head is incomplete
        self._field_bytes = 0  # bytes of the fields parsed so far (a head in one read)
        self._header_count = 0
        self._refusal: GatewayError | None = None  # found inside a parser callback
        self._refused = False  # answered a refusal: input is dropped from now on

    # -- connection ---------------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._phase_started = self.loop.time()
        self._watchdog = self.loop.call_later(self._limits.header_timeout_s, self._watch)

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in (self._watchdog, self._lingering):
            if timer is not None:
                timer.cancel()
        self._watchdog = self._lingering = None
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        # uvicorn's, but a parser error is answered by the app (problem+json, a record).
        if self._refused:
            return  # lingering: read and drop
        self._unset_keepalive_if_required()
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserUpgrade:
            # An Upgrade the gateway does not serve: the request itself was dispatched as an
            # ordinary one; what follows it is not HTTP/1.1 and is dropped.
            self._refused = True
            return
        except httptools.HttpParserError:
            self._parser_failed()
            return
        if self._phase == HEAD:
            self._head_bytes += len(data)
            if self._head_bytes > self._max_head:
                self._dispatch_refusal(self._too_large())

    # -- parser callbacks -----------------------------------------------------------------

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._phase, self._phase_started = HEAD, self.loop.time()
        self._head_bytes = self._field_bytes = self._header_count = 0

    def on_header(self, name: bytes, value: bytes) -> None:
        if self._phase != HEAD:
            return  # a chunked trailer: never a header field of the request
        self._header_count += 1
        self._field_bytes += len(name) + len(value)
        if self._header_count > self._max_fields or self._field_bytes > self._max_head:
            self._refusal = self._too_large()
            raise _Refused
        name = name.lower()  # as uvicorn's on_header, inlined: this runs for every field
        if name == b"expect" and value.lower() == b"100-continue":
            self.expect_100_continue = True
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        if self.url[:1] != b"/" and self.parser.get_method() == b"CONNECT":
            # Not a forward proxy: route it as an ordinary request, the app answers 405.
            self._refusal = _DISPATCH_AS_IS
            raise _Refused
        super().on_headers_complete()
        self._phase, self._phase_started = BODY, self.loop.time()
        if type(self.cycle) is RequestResponseCycle:
            self.cycle.__class__ = _OneWriteCycle

    def on_message_complete(self) -> None:
        self._phase = ANSWERING
        super().on_message_complete()

    def on_response_complete(self) -> None:
        if self._refused:
            self.server_state.total_requests += 1
            self._linger()
            return
        if self._phase == ANSWERING and not self.pipeline:
            self._phase, self._phase_started = IDLE, self.loop.time()
        super().on_response_complete()

    # -- deadlines ------------------------------------------------------------------------

    def _watch(self) -> None:
        phase, limits = self._phase, self._limits
        limit = limits.body_timeout_s if phase == BODY else limits.header_timeout_s
        left = self._phase_started + limit - self.loop.time()
        if phase == ANSWERING or left > 0:  # the app is working, or time is left
            self._watchdog = self.loop.call_later(left if left > 0 else limit, self._watch)
            return
        self._watchdog = None
        if phase == IDLE:
            self.transport.close()  # no request was begun: nothing to answer
        elif phase == HEAD:
            self._dispatch_refusal(RequestTimeout(f"the request head took longer than {limit:g} s"))
        else:
            self._fail_body(RequestTimeout(f"the request body took longer than {limit:g} s"))

    # -- refusals -------------------------------------------------------------------------

    def _parser_failed(self) -> None:
        refusal, self._refusal = self._refusal, None
        if refusal is not None:
            self._dispatch_refusal(None if refusal is _DISPATCH_AS_IS else refusal)
        elif self._phase == BODY and self.cycle is not None and not self.cycle.response_complete:
            self._fail_body(InvalidRequest("malformed chunked request body (RFC 9112 §7.1)"))
        else:
            self._dispatch_refusal(InvalidRequest("malformed HTTP request head"))

    def _too_large(self) -> RequestHeaderFieldsTooLarge:
        return RequestHeaderFieldsTooLarge(
            f"the request head exceeds {self._max_head} bytes or {self._max_fields} fields"
        )

    def _dispatch_refusal(self, error: GatewayError | None) -> None:
        """Stop parsing; run the app on what the head gave, with ``error`` in its scope."""
        self._refused = True
        in_head, self._phase = self._phase == HEAD, ANSWERING
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # an earlier request is still being answered
            return
        # The method is known once the request line's target began; the fields, once the
        # head began (else ``self.headers`` still holds the previous request's).
        known = in_head and bool(getattr(self, "url", b""))
        method = self.parser.get_method().decode("ascii", "replace") if known else "-"
        scope: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": self.asgi_version, "spec_version": "2.3"},
            "http_version": "1.1",
            "server": self.server,
            "client": self.client,
            "scheme": self.scheme,
            "method": method,
            "root_path": self.root_path,
            "path": "/",
            "raw_path": b"/",
            "query_string": b"",
            "headers": list(self.headers) if in_head else [],
            "state": self.app_state.copy(),
        }
        if error is not None:
            scope[EDGE_ERROR] = error
        cycle = RequestResponseCycle(
            scope=scope,  # type: ignore[arg-type]
            transport=self.transport,
            flow=self.flow,
            logger=self.logger,
            access_logger=self.access_logger,
            access_log=self.access_log,
            default_headers=self.server_state.default_headers,
            message_event=asyncio.Event(),
            expect_100_continue=False,
            keep_alive=True,  # on_response_complete lingers, then closes
            on_response=self.on_response_complete,
        )
        cycle.more_body = False
        self.cycle = cycle
        self._start_asgi_task(cycle, self.app)

    def _fail_body(self, error: GatewayError) -> None:
        """End the current body early; the app raises ``error`` when it reads the end."""
        self._refused = True
        self._phase = ANSWERING
        cycle = self.cycle
        if cycle is None or cycle.response_started:
            self.transport.close()  # answered already (or answering): drop the rest
            return
        cycle.scope[EDGE_ERROR] = error  # type: ignore[literal-required]
        cycle.more_body = False
        cycle.message_event.set()

    def _linger(self) -> None:
        if self.transport.is_closing():
            return
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self.flow.resume_reading()
        self._lingering = self.loop.call_later(self._limits.linger_s, self.transport.close)


class _HeldHead:
    """The connection's transport while a response's head waits for the first body bytes."""

    __slots__ = ("head", "real")

    def __init__(self, real: asyncio.Transport) -> None:
        self.real = real
        self.head: bytes | None = None

    def write(self, data: bytes) -> None:
        if self.head is None:
            self.head = data  # the status line and the fields: held for the body
        else:
            self.flush(data)

    def flush(self, data: bytes = b"") -> None:
        head, self.head = self.head, None
        if head is not None or data:
            self.real.write(head + data if head is not None else data)

    def close(self) -> None:
        self.flush()
        self.real.close()

    def is_closing(self) -> bool:
        return self.real.is_closing()


class _OneWriteCycle(RequestResponseCycle):
    """uvicorn's request cycle, but a response's head and body leave in one ``write``.

    uvicorn writes the head when the app sends ``http.response.start`` and the body on the
    next message: two system calls and two TCP segments per answer. Here the head is held
    until the body's first bytes (or a close) and written with them. Not for HEAD (no body
    is written) nor for an answer to a refused request (the connection lingers right after).
    """

    async def send(self, message: Any) -> None:
        if isinstance(self.transport, _HeldHead):
            held = self.transport
            try:
                await super().send(message)
            finally:
                self.transport = held.real
                held.flush()
            return
        hold = (
            message["type"] == "http.response.start"
            and not self.response_started
            and self.scope["method"] != "HEAD"
            and EDGE_ERROR not in self.scope
        )
        if not hold:
            await super().send(message)
            return
        held = _HeldHead(self.transport)
        self.transport = held  # type: ignore[assignment]
        try:
            await super().send(message)
        except BaseException:
            self.transport = held.real
            held.flush()
            raise


_DISPATCH_AS_IS = InvalidRequest("dispatched as an ordinary request")  # a sentinel, never sent


def edge_protocol(limits: EdgeLimits) -> type[EdgeProtocol]:
    """An :class:`EdgeProtocol` with these limits (for ``uvicorn.Config(http=...)``)."""
    return type("LimitedEdgeProtocol", (EdgeProtocol,), {"limits": limits})
