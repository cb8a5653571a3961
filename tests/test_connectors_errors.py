"""The SDK's error hierarchy: every code a province can meet has a class, mapped at one boundary."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

import connectors
from connectors.errors import (
    CODE_CLASSES,
    ClientError,
    Conflict,
    GatewayFailure,
    GatewayUnreachable,
    InvalidRequest,
    NdxpError,
    NotFound,
    ProviderMaintenance,
    ProviderRejected,
    QuotaExceeded,
    TransportError,
    UpstreamError,
    UpstreamFailure,
    UpstreamOverloaded,
    UpstreamReset,
    UpstreamTimeout,
    UpstreamUnreachable,
    error_class,
    error_from_response,
    map_transport_errors,
    retry_after_seconds,
)
from gateway.errors import PASSED_THROUGH_OUTCOMES, all_error_classes
from gateway.problems import problem_response

# The codes the mock national databases put in the bodies the gateway passes on.
MOCK_BODY_CODES = (
    "not_found",
    "invalid_request",
    "citizen_mismatch",
    "dossier_code_conflict",
    "provider_maintenance",
    "provider_overloaded",
    "service_unavailable",
    "provider_error",
)
NOW = datetime(2024, 12, 30, 10, 0, tzinfo=UTC)


def every_code() -> list[str]:
    gateway_codes = [cls.code for cls in all_error_classes()]
    return sorted({*gateway_codes, *PASSED_THROUGH_OUTCOMES, *MOCK_BODY_CODES})


@pytest.mark.parametrize("code", every_code())
def test_every_code_a_province_can_see_maps_to_a_class(code: str) -> None:
    assert code in CODE_CLASSES, f"add {code!r} to connectors.errors.CODE_CLASSES"
    assert issubclass(CODE_CLASSES[code], NdxpError)


@pytest.mark.parametrize("cls", all_error_classes(), ids=lambda cls: cls.code)
def test_every_gateway_error_as_the_gateway_answers_it(cls: type) -> None:
    """The gateway's own problem response for each of its errors, through the boundary."""
    gateway_response = problem_response(cls("boom"), "ex-42")
    response = httpx.Response(
        gateway_response.status_code,
        headers={k.decode(): v.decode() for k, v in gateway_response.raw_headers},
        content=gateway_response.body,
    )

    err = error_from_response(response, now=NOW)

    assert isinstance(err, CODE_CLASSES[cls.code])
    assert (err.code, err.status, err.detail) == (cls.code, cls.status_code, "boom")
    assert err.from_gateway
    assert err.problem is not None
    assert err.problem["exchange_id"] == "ex-42"


@pytest.mark.parametrize(
    ("code", "retryable"),
    [
        ("upstream_timeout", True),
        ("upstream_unreachable", True),
        ("upstream_reset", True),
        ("upstream_overloaded", True),
        ("provider_maintenance", True),
        ("provider_overloaded", True),
        ("service_unavailable", True),
        ("upstream_error", False),
        ("provider_error", False),
        ("gateway_error", False),
        ("quota_exceeded", False),
        ("not_found", False),
        ("unauthenticated", False),
    ],
)
def test_only_the_documented_outcomes_are_retryable(code: str, retryable: bool) -> None:
    assert CODE_CLASSES[code].retryable is retryable


def test_client_errors_are_never_retryable() -> None:
    client_classes = {cls for cls in CODE_CLASSES.values() if issubclass(cls, ClientError)}
    assert client_classes  # the table has some
    assert not any(cls.retryable for cls in client_classes)


def passed_on(status: int, body: object, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers={"X-NDXP-Exchange-Id": "ex-7", **headers})


def test_provider_error_is_read_from_the_body_and_not_marked_as_the_gateways() -> None:
    err = error_from_response(passed_on(404, {"code": "not_found", "detail": "No citizen"}))

    assert isinstance(err, NotFound)
    assert (err.code, err.detail, err.exchange_id) == ("not_found", "No citizen", "ex-7")
    assert not err.from_gateway


def test_the_wire_code_is_kept_when_more_specific_than_the_class() -> None:
    err = error_from_response(passed_on(422, {"code": "citizen_mismatch"}))

    assert isinstance(err, InvalidRequest)
    assert err.code == "citizen_mismatch"


def test_gateway_header_wins_over_the_body() -> None:
    response = passed_on(502, {"code": "something_else"}, **{"X-NDXP-Error": "upstream_reset"})

    assert isinstance(error_from_response(response), UpstreamReset)


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (404, NotFound),
        (409, Conflict),
        (418, ProviderRejected),
        (500, UpstreamFailure),
        (502, UpstreamFailure),
        (503, UpstreamOverloaded),
        (504, UpstreamTimeout),
    ],
)
def test_unknown_or_missing_code_falls_back_on_the_status(status: int, expected: type) -> None:
    assert isinstance(error_from_response(httpx.Response(status, text="<html>")), expected)
    assert error_class("brand_new_code", status) is expected


def test_a_provider_503_is_overload_whatever_its_body_code() -> None:
    err = error_from_response(passed_on(503, {"code": "provider_error"}))

    assert isinstance(err, UpstreamOverloaded)
    assert err.retryable


def test_maintenance_carries_retry_after() -> None:
    err = error_from_response(
        passed_on(503, {"code": "provider_maintenance"}, **{"Retry-After": "120"})
    )

    assert isinstance(err, ProviderMaintenance)
    assert err.retry_after_s == 120


def test_quota_exceeded_carries_the_reset_time_from_the_ratelimit_header() -> None:
    response = passed_on(
        429,
        {"code": "quota_exceeded"},
        **{
            "X-NDXP-Error": "quota_exceeded",
            "Retry-After": "3900",
            "RateLimit": '"daily-population.get_citizen";r=0;t=3713',
        },
    )

    err = error_from_response(response, now=NOW)

    assert isinstance(err, QuotaExceeded)
    assert err.reset_at == NOW + timedelta(seconds=3713)
    assert err.retry_after_s == 3900
    assert (err.policy, err.remaining, err.reserve) == ("daily-population.get_citizen", 0, False)


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after_seconds("30") == 30
    assert retry_after_seconds("Mon, 30 Dec 2024 10:01:00 GMT", NOW) == 60
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def test_hierarchy_is_split_by_origin() -> None:
    assert issubclass(UpstreamTimeout, UpstreamError)
    assert issubclass(UpstreamUnreachable, UpstreamError)
    assert issubclass(QuotaExceeded, ClientError)
    assert not issubclass(GatewayFailure, UpstreamError)
    assert issubclass(GatewayUnreachable, TransportError)


def _request_errors() -> list[type[httpx.RequestError]]:
    found: list[type[httpx.RequestError]] = []
    todo: list[type[httpx.RequestError]] = [httpx.RequestError]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found


@pytest.mark.parametrize("exc_class", _request_errors(), ids=lambda cls: cls.__name__)
def test_every_httpx_request_error_is_mapped(exc_class: type[httpx.RequestError]) -> None:
    request = httpx.Request("GET", "http://gateway.test/")

    with pytest.raises(TransportError) as caught, map_transport_errors():
        raise exc_class("boom", request=request)

    assert isinstance(caught.value.__cause__, exc_class)
    connect_failed = issubclass(
        exc_class, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout
    )
    assert isinstance(caught.value, GatewayUnreachable) is connect_failed


def test_every_error_class_is_exported() -> None:
    for cls in {*CODE_CLASSES.values(), TransportError, GatewayUnreachable}:
        assert getattr(connectors, cls.__name__) is cls
