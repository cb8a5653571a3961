"""The one boundary where httpx exceptions become gateway errors — and it misses none."""

from __future__ import annotations

import httpx
import pytest

from gateway import errors
from gateway.registry import Timeouts
from gateway.transport import MalformedResponse, ResponseTooLarge, UnexpectedTransportError
from gateway.upstream import HTTPX_ERRORS, error_for, httpx_timeout, map_httpx_errors


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
