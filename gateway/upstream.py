"""The gateway's one door to the national databases, and the one place httpx errors are translated.

:class:`Upstream` holds one transport per provider — the lean HTTP/1.1 transport
(:mod:`gateway.transport`: llhttp parser, O(1) pool, ``max_connections``, response-size cap) or,
in tests, an injected ``httpx`` transport — and :meth:`Upstream.send` makes one call: it owns
every timeout (connect, read *between bytes*, write and the pool wait from the registry, as
httpx's per-phase timeouts; the *total* as an ``asyncio.timeout`` around the whole call, since
httpx has no overall deadline) and the error mapping, and returns an :class:`UpstreamResult`:
the answer, or the gateway error made of its failure — with the provider's injected-fault
header even when the body broke after the head. No cookie jar anywhere: a provider's
``Set-Cookie`` for one province never rides on the next province's call.

:func:`map_httpx_errors` is the single boundary where httpx exceptions become
:mod:`gateway.errors`; a test walks httpx's exception tree and fails on any class this table
leaves out.
"""

from __future__ import annotations

import asyncio
import http.client
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.cookiejar import Cookie, CookieJar
from typing import cast

import httpx

from contracts.headers import INJECTED_FAULT_HEADER
from gateway.errors import (
    GatewayError,
    GatewayInternalError,
    UpstreamBusy,
    UpstreamError,
    UpstreamProtocolError,
    UpstreamReset,
    UpstreamResponseTooLarge,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.registry import ProviderSpec, Registry, Timeouts
from gateway.routing import Route
from gateway.transport import (
    LeanTransport,
    MalformedResponse,
    Origin,
    ResponseTooLarge,
    UnexpectedTransportError,
)
from ndxp_config.settings import Settings

HTTPX_ERRORS: dict[type[httpx.HTTPError], type[GatewayError]] = {
    # No answer in time, whichever phase ran out.
    httpx.ConnectTimeout: UpstreamTimeout,
    httpx.ReadTimeout: UpstreamTimeout,
    httpx.WriteTimeout: UpstreamTimeout,
    httpx.TimeoutException: UpstreamTimeout,
    # Our cap on connections to the provider held the call back: it never reached it.
    httpx.PoolTimeout: UpstreamBusy,
    # Nobody listening, or the route to it is broken (TLS verification failures too).
    httpx.ConnectError: UpstreamUnreachable,
    httpx.ProxyError: UpstreamUnreachable,
    # The connection died mid-exchange: a reset reads as ReadError (WriteError while the
    # request is sent); a peer that closes before (or in the middle of) its response is a
    # RemoteProtocolError.
    httpx.ReadError: UpstreamReset,
    httpx.WriteError: UpstreamReset,
    httpx.CloseError: UpstreamReset,
    httpx.RemoteProtocolError: UpstreamReset,
    # The transport's own refusals of what the provider sent.
    MalformedResponse: UpstreamProtocolError,
    ResponseTooLarge: UpstreamResponseTooLarge,
    # The provider answered something unusable.
    httpx.DecodingError: UpstreamError,
    httpx.TooManyRedirects: UpstreamError,
    httpx.HTTPStatusError: UpstreamError,
    # Our own request, configuration or code was wrong: a gateway bug, not the provider's.
    httpx.LocalProtocolError: GatewayInternalError,
    httpx.UnsupportedProtocol: GatewayInternalError,
    UnexpectedTransportError: GatewayInternalError,
}
_PHASES: dict[type, str] = {
    httpx.ConnectTimeout: "connecting",
    httpx.ReadTimeout: "waiting for the response",
    httpx.WriteTimeout: "sending the request",
    httpx.PoolTimeout: "waiting for a free connection",
}


def error_for(exc: httpx.HTTPError) -> GatewayError:
    """The gateway error for an httpx exception (most specific class first)."""
    table: dict[type, type[GatewayError]] = dict(HTTPX_ERRORS)
    target = next((table[c] for c in type(exc).__mro__ if c in table), GatewayInternalError)
    phase = _PHASES.get(type(exc))  # the exact class: a subclass may mean something else
    detail = f"{target.title.lower()} ({phase})" if phase else f"{target.title.lower()}: {exc!r}"
    return target(detail)


@contextmanager
def map_httpx_errors(provider: str, total_s: float) -> Iterator[None]:
    """Translate httpx exceptions and the total deadline into gateway errors.

    Raises:
        UpstreamTimeout: the total timeout (``asyncio.timeout``) ran out.
        GatewayError: the translation of any ``httpx.HTTPError`` (see ``HTTPX_ERRORS``).
    """
    try:
        yield
    except TimeoutError:
        raise UpstreamTimeout(f"no complete answer from {provider} within {total_s:g} s") from None
    except httpx.HTTPError as exc:
        raise error_for(exc) from exc


def httpx_timeout(timeouts: Timeouts, pool_s: float | None = None) -> httpx.Timeout:
    """httpx's per-phase timeouts; the total is enforced by the caller."""
    return httpx.Timeout(
        connect=timeouts.connect_s,
        read=timeouts.read_s,
        write=timeouts.read_s,
        pool=timeouts.connect_s if pool_s is None else pool_s,
    )


@dataclass(slots=True)
class UpstreamResult:
    """What one call to a provider gave: its answer, or the gateway error its failure makes."""

    request_out: datetime
    response_in: datetime | None = None  # the head arrived
    elapsed_s: float = 0.0
    status: int = 0
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    body: bytes = b""
    injected_fault: str | None = None  # the mock's fault header, kept even if the body broke
    error: GatewayError | None = None


class _NoCookies(CookieJar):
    """A jar that keeps nothing: no provider cookie is ever sent on someone else's call."""

    def extract_cookies(
        self, response: http.client.HTTPResponse, request: urllib.request.Request
    ) -> None:
        return None

    def set_cookie(self, cookie: Cookie) -> None:
        return None


@dataclass(frozen=True, slots=True)
class _Link:
    """How to reach one provider."""

    base_url: str
    origin: Origin
    host: bytes
    base_path: bytes
    pool_wait_s: float
    transport: httpx.AsyncBaseTransport


class Upstream:
    """One transport per provider; :meth:`send` is the only way a province's call goes out."""

    def __init__(self, links: Mapping[str, _Link]) -> None:
        self._links = dict(links)
        self._timeouts: dict[tuple[str, Timeouts], dict[str, float | None]] = {}
        self.clients = {name: _client(link) for name, link in self._links.items()}
        """Per provider, an ``httpx.AsyncClient`` on the same transport (the admin API)."""

    @classmethod
    def open(
        cls,
        registry: Registry,
        settings: Settings,
        transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    ) -> Upstream:
        """Links to every provider of ``registry``; ``transports`` replace the network (tests)."""
        transports = transports or {}
        links = {
            p.name: _link(p, registry.base_url(p, settings), transports.get(p.name))
            for p in registry.providers
        }
        return cls(links)

    async def send(
        self,
        route: Route,
        method: str,
        path: str,
        query: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> UpstreamResult:
        """Call ``route``'s provider at ``path`` (raw, percent-encoded) and read the answer.

        ``headers`` are forwarded as they are; ``Host`` and ``Content-Length`` are added here.
        Never raises for the provider's failures: they are in ``result.error``.
        """
        link = self._links[route.provider]
        timeouts = self._phase_timeouts(route, link)
        target = link.base_path + path.encode("latin-1") + (b"?" + query if query else b"")
        result = UpstreamResult(request_out=datetime.now(UTC))
        started = time.perf_counter()
        total_s = route.timeouts.total_s
        try:
            with map_httpx_errors(route.provider, total_s):
                async with asyncio.timeout(total_s):
                    call = self._lean if isinstance(link.transport, LeanTransport) else self._httpx
                    await call(link, result, method, target, headers, body, timeouts)
        except GatewayError as err:
            result.error = err
        finally:
            result.elapsed_s = time.perf_counter() - started
        return result

    @staticmethod
    async def _lean(
        link: _Link,
        result: UpstreamResult,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: dict[str, float | None],
    ) -> None:
        # The hot path: no httpx.Request/URL objects, the head is written as it is.
        out = [(b"host", link.host), *headers]
        if body or method in ("POST", "PUT", "PATCH"):
            out.append((b"content-length", str(len(body)).encode()))
        transport = cast(LeanTransport, link.transport)
        raw = await transport.open(link.origin, method.encode(), target, out, body, timeouts)
        result.response_in = datetime.now(UTC)
        result.status, result.headers = raw.status, raw.headers
        result.injected_fault = _injected_fault(raw.headers)
        try:
            result.body = await raw.aread()
        finally:
            raw.aclose()

    @staticmethod
    async def _httpx(
        link: _Link,
        result: UpstreamResult,
        method: str,
        target: bytes,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
        timeouts: dict[str, float | None],
    ) -> None:
        request = httpx.Request(
            method,
            link.base_url + target.decode("latin-1"),
            headers=headers,
            content=body or None,
            extensions={"timeout": timeouts},
        )
        response = await link.transport.handle_async_request(request)
        result.response_in = datetime.now(UTC)
        result.status, result.headers = response.status_code, response.headers.raw
        result.injected_fault = response.headers.get(INJECTED_FAULT_HEADER)
        try:
            result.body = await response.aread()
        finally:
            await response.aclose()

    def _phase_timeouts(self, route: Route, link: _Link) -> dict[str, float | None]:
        key = (route.provider, route.timeouts)
        found = self._timeouts.get(key)
        if found is None:
            t = route.timeouts
            found = self._timeouts[key] = {
                "connect": t.connect_s,
                "read": t.read_s,
                "write": t.read_s,
                "pool": link.pool_wait_s,
            }
        return found

    async def aclose(self) -> None:
        """Close every client and transport (the lifespan's end)."""
        await asyncio.gather(*(client.aclose() for client in self.clients.values()))
        await asyncio.gather(*(link.transport.aclose() for link in self._links.values()))


def _link(spec: ProviderSpec, base_url: str, transport: httpx.AsyncBaseTransport | None) -> _Link:
    url = httpx.URL(base_url)
    default_port = 443 if url.scheme == "https" else 80
    port = url.port or default_port
    host = url.host if port == default_port else f"{url.host}:{port}"
    return _Link(
        base_url=base_url.rstrip("/"),
        origin=(url.scheme, url.host, port),
        host=host.encode("ascii"),
        base_path=url.raw_path.rstrip(b"/"),
        pool_wait_s=spec.pool_wait_s,
        transport=transport
        or LeanTransport(
            max_connections=spec.max_connections,
            max_response_bytes=spec.max_response_bytes,
            ca_file=spec.ca_file,
        ),
    )


def _client(link: _Link) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=link.base_url,
        transport=link.transport,
        follow_redirects=False,  # a gateway passes redirects on, as X-Road does
        trust_env=False,  # no proxies or netrc from the environment
        cookies=_NoCookies(),  # the jar itself: httpx.Cookies(...) would copy it into a real one
    )


def _injected_fault(headers: list[tuple[bytes, bytes]]) -> str | None:
    name = INJECTED_FAULT_HEADER.lower().encode()
    for key, value in headers:
        if key.lower() == name:
            return value.decode("latin-1")
    return None
