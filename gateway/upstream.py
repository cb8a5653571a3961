"""The connections to the national databases, and the one place httpx errors are translated.

One shared ``httpx.AsyncClient`` per provider, owned by the app's lifespan; tests inject a
transport per provider instead of patching. Every call carries an explicit timeout: connect
and read from the registry (provider defaults, per-operation overrides) as httpx timeouts,
and the *total* as an ``asyncio.timeout`` around the whole exchange, since httpx has no
overall deadline. :func:`map_httpx_errors` is the single boundary where httpx exceptions
become :mod:`gateway.errors`; a test walks httpx's exception tree and fails on any class this
table leaves out.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import httpx

from gateway.errors import (
    GatewayError,
    GatewayInternalError,
    UpstreamError,
    UpstreamReset,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from gateway.registry import Timeouts
from gateway.transport import LeanTransport

HTTPX_ERRORS: dict[type[httpx.HTTPError], type[GatewayError]] = {
    # No answer in time, whichever phase ran out (a pool wait is time spent for nothing, too).
    httpx.ConnectTimeout: UpstreamTimeout,
    httpx.ReadTimeout: UpstreamTimeout,
    httpx.WriteTimeout: UpstreamTimeout,
    httpx.PoolTimeout: UpstreamTimeout,
    httpx.TimeoutException: UpstreamTimeout,
    # Nobody listening, or the route to it is broken.
    httpx.ConnectError: UpstreamUnreachable,
    httpx.ProxyError: UpstreamUnreachable,
    # The connection died mid-exchange: a reset reads as ReadError; a peer that closes
    # before (or in the middle of) its response is a RemoteProtocolError for h11.
    httpx.ReadError: UpstreamReset,
    httpx.WriteError: UpstreamReset,
    httpx.CloseError: UpstreamReset,
    httpx.RemoteProtocolError: UpstreamReset,
    # The provider answered something unusable.
    httpx.DecodingError: UpstreamError,
    httpx.TooManyRedirects: UpstreamError,
    httpx.HTTPStatusError: UpstreamError,
    # Our own request or configuration was wrong: a gateway bug, not the provider's.
    httpx.LocalProtocolError: GatewayInternalError,
    httpx.UnsupportedProtocol: GatewayInternalError,
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


def httpx_timeout(timeouts: Timeouts) -> httpx.Timeout:
    """httpx's per-phase timeouts; the total is enforced by the caller."""
    return httpx.Timeout(
        connect=timeouts.connect_s,
        read=timeouts.read_s,
        write=timeouts.read_s,
        pool=timeouts.connect_s,
    )


def open_clients(
    base_urls: Mapping[str, str],
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
) -> dict[str, httpx.AsyncClient]:
    """One client per provider; a provider with an injected transport uses it."""
    transports = transports or {}
    return {
        name: httpx.AsyncClient(
            base_url=url,
            # The lean transport keeps connections alive without per-request pool scans
            # (see gateway.transport); tests inject their own.
            transport=transports.get(name) or LeanTransport(),
            follow_redirects=False,  # a gateway passes redirects on, as X-Road does
            trust_env=False,  # no proxies or netrc from the environment
        )
        for name, url in base_urls.items()
    }
