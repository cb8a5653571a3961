"""The one boundary where httpx exceptions become gateway errors — and it misses none."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway import errors
from gateway.registry import Timeouts
from gateway.routing import Route, Router
from gateway.testing import gateway_settings, small_registry
from gateway.transport import MalformedResponse, ResponseTooLarge, UnexpectedTransportError
from gateway.upstream import HTTPX_ERRORS, Upstream, error_for, httpx_timeout, map_httpx_errors


def _httpx_exception_classes() -> set[type[httpx.HTTPError]]:
    found: set[type[httpx.HTTPError]] = set()
    todo: list[type[httpx.HTTPError]] = [httpx.HTTPError, httpx.TransportError]
    while todo:
        cls = todo.pop()
        for sub in cls.__subclasses__():
            if sub.__module__.startswith("httpx") and sub not in found:
                found.add(sub)
                todo.append(sub)
    return found


_ABSTRACT = {httpx.RequestError, httpx.TransportError, httpx.NetworkError, httpx.ProtocolError}


def test_every_concrete_httpx_exception_class_is_mapped() -> None:
    concrete = _httpx_exception_classes() - _ABSTRACT
    assert concrete, "walking httpx's exception tree found nothing"
    unmapped = sorted(cls.__name__ for cls in concrete if cls not in HTTPX_ERRORS)
    assert unmapped == [], f"map these in gateway.upstream.HTTPX_ERRORS: {unmapped}"


def _request() -> httpx.Request:
    return httpx.Request("GET", "http://db.test/v1/x")


@pytest.mark.parametrize(
    ("exc", "code"),
    [
        (httpx.ConnectTimeout("t"), "upstream_timeout"),
        (httpx.ReadTimeout("t"), "upstream_timeout"),
        (httpx.WriteTimeout("t"), "upstream_timeout"),
        (httpx.PoolTimeout("t"), "upstream_busy"),
        (httpx.ConnectError("refused"), "upstream_unreachable"),
        (httpx.ProxyError("p"), "upstream_unreachable"),
        (httpx.ReadError("reset"), "upstream_reset"),
        (httpx.WriteError("reset"), "upstream_reset"),
        (httpx.CloseError("c"), "upstream_reset"),
        (httpx.RemoteProtocolError("Server disconnected"), "upstream_reset"),
        (httpx.DecodingError("gzip"), "upstream_error"),
        (httpx.TooManyRedirects("r"), "upstream_error"),
        (httpx.LocalProtocolError("ours"), "gateway_error"),
        (httpx.UnsupportedProtocol("ftp"), "gateway_error"),
        (MalformedResponse("Content-Length: abc"), "upstream_protocol_error"),
        (ResponseTooLarge("17 MiB"), "upstream_response_too_large"),
        (UnexpectedTransportError("KeyError"), "gateway_error"),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else v,
)
def test_httpx_exception_maps_to_its_code(exc: httpx.HTTPError, code: str) -> None:
    assert error_for(exc).code == code


def test_subclass_of_a_mapped_class_takes_its_parents_code() -> None:
    class FutureTimeout(httpx.ReadTimeout):
        pass

    assert error_for(FutureTimeout("t")).code == "upstream_timeout"


def test_boundary_translates_and_chains_the_cause() -> None:
    with pytest.raises(errors.UpstreamUnreachable) as caught, map_httpx_errors("population", 1):
        raise httpx.ConnectError("refused", request=_request())
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_total_deadline_becomes_upstream_timeout() -> None:
    with pytest.raises(errors.UpstreamTimeout, match=r"within 1\.5 s"), map_httpx_errors("p", 1.5):
        raise TimeoutError


def test_timeouts_become_httpx_phases() -> None:
    timeout = httpx_timeout(Timeouts(connect_s=1, read_s=2, total_s=3))
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (1, 2, 2, 1)


# -- Upstream.send: one call, its timing, its error, its injected fault ---------------------------


class _BreaksAfter(httpx.AsyncByteStream):
    """A body whose first bytes arrive, then the connection resets."""

    async def __aiter__(self) -> AsyncIterator[bytes]:
        yield b'{"loc": ['
        raise httpx.ReadError("connection reset by peer")


def _upstream(tmp_path: Path, handler: Callable[..., Any], total_s: float = 5.0) -> Upstream:
    registry = small_registry(timeouts=Timeouts(connect_s=1, read_s=1, total_s=total_s))
    settings = gateway_settings(tmp_path, registry)
    return Upstream.open(registry, settings, {"population": httpx.MockTransport(handler)})


def _route(upstream_registry_path: Path) -> Route:
    registry = small_registry()
    settings = gateway_settings(upstream_registry_path, registry)
    return Router(registry, settings).by_service["population.get_citizen"]


async def test_send_returns_the_answer_with_its_timing(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"ok": True}, headers={"x-ndxp-injected-fault": "none"})

    upstream = _upstream(tmp_path, handler)
    result = await upstream.send(
        _route(tmp_path), "GET", "/v1/citizens/1", b"a=1", [(b"x-ndxp-consumer", b"c")], b""
    )
    await upstream.aclose()
    assert (result.status, result.body, result.error) == (200, b'{"ok":true}', None)
    assert result.injected_fault == "none"
    assert result.response_in is not None
    assert result.response_in >= result.request_out
    assert str(seen[0].url) == "http://upstream.test/v1/citizens/1?a=1"
    assert seen[0].headers["x-ndxp-consumer"] == "c"


async def test_a_body_that_breaks_after_the_head_keeps_the_injected_fault(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        fault = {"x-ndxp-injected-fault": "reset:fm-02-reset"}
        return httpx.Response(200, headers=fault, stream=_BreaksAfter())

    upstream = _upstream(tmp_path, handler)
    result = await upstream.send(_route(tmp_path), "GET", "/v1/citizens/1", b"", [], b"")
    await upstream.aclose()
    assert isinstance(result.error, errors.UpstreamReset)
    assert result.injected_fault == "reset:fm-02-reset"


async def test_the_total_deadline_becomes_upstream_timeout(tmp_path: Path) -> None:
    async def never(request: httpx.Request) -> httpx.Response:
        await asyncio.Event().wait()
        raise AssertionError("unreachable")

    upstream = _upstream(tmp_path, never, total_s=0.05)
    result = await upstream.send(_route(tmp_path), "GET", "/v1/citizens/1", b"", [], b"")
    await upstream.aclose()
    assert isinstance(result.error, errors.UpstreamTimeout)
    assert result.response_in is None


async def test_the_admin_clients_keep_no_cookie(tmp_path: Path) -> None:
    cookies: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("cookie"))
        return httpx.Response(200, headers={"set-cookie": "session=thanh-hoa; Path=/"})

    upstream = _upstream(tmp_path, handler)
    client = upstream.clients["population"]
    await client.get("/healthz")
    await client.get("/healthz")
    await upstream.aclose()
    assert cookies == [None, None]
    assert len(client.cookies.jar) == 0
