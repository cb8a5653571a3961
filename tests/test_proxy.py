"""An exchange end to end, in-process: checks in order, forwarding, classification, one record."""

from __future__ import annotations

import asyncio
import json
import unicodedata
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from contracts.headers import ERROR_HEADER
from gateway.exchange_log import ExchangeQuery
from gateway.registry import Registry
from gateway.testing import (
    HA_NOI,
    bearer,
    gateway_settings,
    running_gateway,
    small_registry,
)

CITIZEN = "/population/v1/citizens/038090001234"
VALID = {"loc": ["body"], "msg": "ok", "type": "t"}

Handler = Callable[[httpx.Request], httpx.Response]
Gateway = tuple[FastAPI, httpx.AsyncClient, list[httpx.Request], CollectorRegistry]
StartGateway = Callable[..., AbstractAsyncContextManager[Gateway]]


@pytest.fixture
def start_gateway(tmp_path: Path) -> StartGateway:
    """Factory: a running gateway in front of ``handler``; yields app, client, seen, metrics."""

    @asynccontextmanager
    async def start(
        handler: Handler | None = None, registry: Registry | None = None, **gateway: Any
    ) -> AsyncIterator[Gateway]:
        seen: list[httpx.Request] = []

        def record(request: httpx.Request) -> httpx.Response:
            seen.append(request)
            return (handler or (lambda _: httpx.Response(200, json=VALID)))(request)

        transport = httpx.MockTransport(record)
        transports = {"population": transport, "civil-registry": transport}
        settings = gateway_settings(tmp_path / "state", registry or small_registry(), **gateway)
        metrics = CollectorRegistry()
        async with running_gateway(settings, transports, metrics=metrics) as (app, client):
            yield app, client, seen, metrics

    return start


@pytest.fixture
async def gw(start_gateway: StartGateway) -> AsyncIterator[Gateway]:
    async with start_gateway() as running:
        yield running


async def records(app: FastAPI) -> list[dict[str, Any]]:
    await app.state.runtime.log.flush()
    page = await app.state.runtime.log.query(ExchangeQuery(limit=1000))
    return [r.model_dump() for r in page.items]


async def test_call_is_forwarded_with_gateway_headers_and_without_the_token(gw: Gateway) -> None:
    _, client, seen, _ = gw
    headers = {
        **(await bearer(client)),
        "X-NDXP-Province": "999",  # a province cannot spoof the gateway's own headers
        "Connection": "keep-alive, X-Secret-Hop",
        "X-Secret-Hop": "1",
        "X-Request-Note": "kept",
    }
    response = await client.get(CITIZEN + "?fields=all&x=1", headers=headers)

    assert response.status_code == 200
    assert response.json() == VALID
    (upstream,) = seen
    assert upstream.url.path == "/v1/citizens/038090001234"
    assert upstream.url.query == b"fields=all&x=1"
    assert upstream.headers["x-ndxp-consumer"] == "onestop-thanh-hoa"
    assert upstream.headers["x-ndxp-province"] == "038"
    assert upstream.headers["x-ndxp-exchange-id"] == response.headers["x-ndxp-exchange-id"]
    assert upstream.headers["traceparent"].startswith("00-")
    assert upstream.headers["x-request-note"] == "kept"
    assert "authorization" not in upstream.headers
    assert "x-secret-hop" not in upstream.headers
    assert ERROR_HEADER.lower() not in response.headers


async def test_province_traceparent_is_continued(gw: Gateway) -> None:
    app, client, seen, _ = gw
    trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    headers = {**(await bearer(client)), "traceparent": f"00-{trace}-00f067aa0ba902b7-01"}
    await client.get(CITIZEN, headers=headers)
    assert seen[0].headers["traceparent"].split("-")[1] == trace
    assert seen[0].headers["traceparent"].split("-")[2] != "00f067aa0ba902b7"
    (record,) = await records(app)
    assert record["trace_id"] == trace


async def test_json_body_is_forwarded(gw: Gateway) -> None:
    _, client, seen, _ = gw
    body = {"personal_id": "038090001234", "full_name": "Lê Văn A", "date_of_birth": "1990-01-01"}
    response = await client.post(
        "/population/v1/citizens/verify", json=body, headers=await bearer(client)
    )
    assert response.status_code == 200
    assert json.loads(seen[0].content) == body


@pytest.mark.parametrize(
    "authorization",
    [
        pytest.param(None, id="missing"),
        pytest.param("Basic b25lOnR3bw==", id="other-scheme"),
        pytest.param("Bearer not-a-jwt", id="garbage"),
    ],
)
async def test_call_without_a_valid_token_is_401_and_never_forwarded(
    gw: Gateway, authorization: str | None
) -> None:
    app, client, seen, _ = gw
    headers = {"Authorization": authorization} if authorization else {}
    response = await client.get(CITIZEN, headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers[ERROR_HEADER] == "unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")
    body = response.json()
    assert body["code"] == "unauthenticated"
    assert body["exchange_id"] == response.headers["x-ndxp-exchange-id"]
    assert seen == []
    (record,) = await records(app)
    assert record["consumer"] is None
    assert record["outcome"] == "unauthenticated"


async def test_unsubscribed_service_is_403_forbidden(gw: Gateway) -> None:
    app, client, seen, _ = gw
    response = await client.get(CITIZEN, headers=await bearer(client, HA_NOI))
    assert response.status_code == 403
    assert response.json()["code"] == "forbidden"
    assert response.headers[ERROR_HEADER] == "forbidden"
    assert seen == []
    (record,) = await records(app)
    assert (record["consumer"], record["service"]) == ("onestop-ha-noi", "population.get_citizen")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/population/v1/secrets", id="unregistered-path"),
        pytest.param("GET", "/population/v1/citizens/../../admin", id="dot-dot"),
        pytest.param("GET", "/population/v1/citizens/%2e%2e", id="encoded-dot-dot"),
        pytest.param("GET", "/population/v1/citizens/a%2Fb", id="encoded-slash"),
        pytest.param("GET", "/population//v1/citizens/1", id="double-slash"),
        pytest.param("GET", "/nowhere/v1/citizens/1", id="unknown-provider"),
        pytest.param("GET", "/population/http://evil.example/x", id="absolute-url"),
    ],
)
async def test_anything_but_a_registered_operation_is_404_unknown_service(
    gw: Gateway, method: str, path: str
) -> None:
    app, client, seen, _ = gw
    request = client.build_request(method, "http://gateway.test", headers=await bearer(client))
    # Keep the path exactly as written: httpx would otherwise normalise the dot segments.
    request.url = request.url.copy_with(raw_path=path.encode())
    response = await client.send(request)

    assert response.status_code == 404
    assert response.json()["code"] == "unknown_service"
    assert response.headers[ERROR_HEADER] == "unknown_service"
    assert seen == []
    (record,) = await records(app)
    assert record["provider"] is None
    assert record["path_template"] is None


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        pytest.param("DELETE", CITIZEN, "GET", id="another-method"),
        pytest.param("TRACE", CITIZEN, "GET", id="trace"),
        pytest.param("PUT", "/population/v1/citizens/verify", "POST", id="literal-wins"),
    ],
)
async def test_another_method_at_an_operations_path_is_405_with_its_allow(
    gw: Gateway, method: str, path: str, allow: str
) -> None:
    app, client, seen, _ = gw
    response = await client.request(method, path, headers=await bearer(client))
    assert response.status_code == 405
    assert response.json()["code"] == "method_not_allowed"
    assert response.headers[ERROR_HEADER] == "method_not_allowed"
    assert response.headers["Allow"] == allow
    assert seen == []
    (record,) = await records(app)
    assert (record["outcome"], record["provider"]) == ("method_not_allowed", None)


async def test_body_over_the_limit_is_413(start_gateway: StartGateway) -> None:
    async with start_gateway(max_request_bytes=100) as (_, client, seen, _):
        response = await client.post(
            "/population/v1/citizens/verify",
            content=b"{" + b" " * 200 + b"}",
            headers={**(await bearer(client)), "Content-Type": "application/json"},
        )
        assert response.status_code == 413
        assert response.json()["code"] == "payload_too_large"
        assert seen == []


async def test_malformed_json_body_is_400_invalid_request(gw: Gateway) -> None:
    _, client, seen, _ = gw
    response = await client.post(
        "/population/v1/citizens/verify",
        content=b"{not json",
        headers={**(await bearer(client)), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert seen == []


async def test_quota_allows_exactly_the_limit_then_429_with_headers(
    start_gateway: StartGateway,
) -> None:
    registry = small_registry(daily_quota=10, service_quotas={"population.get_citizen": 2})
    async with start_gateway(registry=registry) as (app, client, seen, metrics):
        headers = await bearer(client)
        first = await client.get(CITIZEN, headers=headers)
        second = await client.get(CITIZEN, headers=headers)
        third = await client.get(CITIZEN, headers=headers)

        assert [first.status_code, second.status_code, third.status_code] == [200, 200, 429]
        assert (
            first.headers["ratelimit"]
            == '"daily-population.get_citizen";r=1;t='
            + (first.headers["ratelimit"].rsplit("t=", 1)[1])
        )
        assert '"daily";q=10;w=86400' in first.headers["ratelimit-policy"]
        assert '"daily-population.get_citizen";q=2;w=86400' in first.headers["ratelimit-policy"]
        problem = third.json()
        assert problem["type"] == "https://iana.org/assignments/http-problem-types#quota-exceeded"
        assert problem["code"] == "quota_exceeded"
        assert problem["violated-policies"] == ["daily-population.get_citizen"]
        assert int(third.headers["retry-after"]) >= int(third.headers["ratelimit"].split("t=")[1])
        assert third.headers["ratelimit"].startswith('"daily-population.get_citizen";r=0;')
        assert len(seen) == 2
        assert (
            metrics.get_sample_value(
                "ndxp_quota_rejections_total",
                {"consumer": "onestop-thanh-hoa", "service": "population.get_citizen"},
            )
            == 1
        )
        assert [r["quota_remaining"] for r in await records(app)] == [0, 0, 1]


async def test_quota_is_exact_under_200_concurrent_requests(start_gateway: StartGateway) -> None:
    registry = small_registry(service_quotas={"population.get_citizen": 37})
    async with start_gateway(registry=registry) as (app, client, seen, _):
        headers = await bearer(client)
        responses = await asyncio.gather(
            *(client.get(CITIZEN, headers=headers) for _ in range(200))
        )
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == 37
        assert statuses.count(429) == 163
        assert len(seen) == 37
        assert len(await records(app)) == 200


@pytest.mark.parametrize(
    ("status", "outcome"),
    [
        pytest.param(404, "upstream_rejected", id="provider-4xx"),
        pytest.param(500, "upstream_error", id="provider-5xx"),
        pytest.param(503, "upstream_overloaded", id="provider-503"),
    ],
)
async def test_provider_errors_pass_through_unchanged_and_are_classified(
    start_gateway: StartGateway, status: int, outcome: str
) -> None:
    body = {"type": "about:blank", "title": "provider says no", "status": status, "code": "x"}

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body, headers={"Retry-After": "7"})

    async with start_gateway(handler) as (app, client, _, metrics):
        response = await client.get(CITIZEN, headers=await bearer(client))
        assert response.status_code == status
        assert response.json() == body
        assert ERROR_HEADER.lower() not in response.headers
        assert response.headers["retry-after"] == "7"
        (record,) = await records(app)
        assert (record["outcome"], record["succeeded"], record["fault_code"]) == (
            outcome,
            False,
            outcome,
        )
        labels = {
            "consumer": "onestop-thanh-hoa",
            "provider": "population",
            "service": "population.get_citizen",
            "outcome": outcome,
        }
        assert metrics.get_sample_value("ndxp_exchanges_total", labels) == 1


async def test_contract_violation_is_passed_on_but_flagged(start_gateway: StartGateway) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"loc": ["a"], "extra": 1})  # msg, type missing

    async with start_gateway(handler) as (app, client, _, metrics):
        response = await client.get(CITIZEN, headers=await bearer(client))
        assert response.status_code == 200
        assert response.json() == {"loc": ["a"], "extra": 1}
        assert response.headers["x-ndxp-contract-violations"] == "msg, type, extra"
        (record,) = await records(app)
        assert record["contract_violations"] == ["msg", "type", "extra"]
        assert record["outcome"] == "ok"
        labels = {"provider": "population", "service": "population.get_citizen", "field": "msg"}
        assert metrics.get_sample_value("ndxp_contract_violations_total", labels) == 1


async def test_injected_fault_header_is_stripped_and_recorded(start_gateway: StartGateway) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json=VALID,
            headers={"X-NDXP-Injected-Fault": "FM-04 drop-fields", "X-NDXP-Error": "forged"},
        )

    async with start_gateway(handler) as (app, client, _, _):
        response = await client.get(CITIZEN, headers=await bearer(client))
        assert "x-ndxp-injected-fault" not in response.headers
        assert ERROR_HEADER.lower() not in response.headers
        (record,) = await records(app)
        assert record["injected_fault"] == "FM-04 drop-fields"


async def test_a_bug_in_the_exchange_is_500_gateway_error_and_still_recorded(
    start_gateway: StartGateway,
) -> None:
    def handler(_: httpx.Request) -> httpx.Response:
        raise ZeroDivisionError("a bug")

    async with start_gateway(handler) as (app, client, _, _):
        with capture_logs() as logs:
            response = await client.get(CITIZEN, headers=await bearer(client))
        assert response.status_code == 500
        assert response.json()["code"] == "gateway_error"
        assert response.headers[ERROR_HEADER] == "gateway_error"
        assert any(entry["event"] == "gateway_bug" for entry in logs)
        (record,) = await records(app)
        assert record["outcome"] == "gateway_error"


async def test_every_exchange_gives_one_record_one_log_line_and_one_count(gw: Gateway) -> None:
    app, client, _, metrics = gw
    good = await bearer(client)
    with capture_logs() as logs:
        await client.get(CITIZEN, headers=good)  # ok
        await client.get(CITIZEN)  # 401
        await client.get("/population/v1/nothing", headers=good)  # 404
        await client.get("/civil-registry/v1/registrations/r1", headers=good)  # 403: not subscribed
    lines = [entry for entry in logs if entry["event"] == "exchange"]
    stored = await records(app)
    assert len(lines) == len(stored) == 4
    assert sorted(r["outcome"] for r in stored) == sorted(
        ["ok", "unauthenticated", "unknown_service", "forbidden"]
    )
    total = sum(
        metrics.get_sample_value(
            "ndxp_exchanges_total",
            {"consumer": c, "provider": p, "service": s, "outcome": o},
        )
        or 0
        for c, p, s, o in [
            ("onestop-thanh-hoa", "population", "population.get_citizen", "ok"),
            ("-", "-", "-", "unauthenticated"),
            ("onestop-thanh-hoa", "-", "-", "unknown_service"),
            ("onestop-thanh-hoa", "civil-registry", "civil-registry.get_registration", "forbidden"),
        ]
    )
    assert total == 4


async def test_personal_ids_are_masked_in_log_lines_and_records(gw: Gateway) -> None:
    app, client, _, _ = gw
    with capture_logs() as logs:
        await client.get("/population/v1/unknown/038090001234", headers=await bearer(client))
    (line,) = [entry for entry in logs if entry["event"] == "exchange"]
    assert "038090001234" not in json.dumps(line)
    assert "038*****1234" in line["detail"]
    (record,) = await records(app)
    assert "038090001234" not in json.dumps(record, default=str)


@pytest.mark.parametrize(
    ("status", "body", "outcome"),
    [
        (503, b'{"code": "provider_maintenance"}', "provider_maintenance"),
        (503, b'{"code": "provider_overloaded"}', "upstream_overloaded"),
        (503, b"not json", "upstream_overloaded"),
        (503, b'["provider_maintenance"]', "upstream_overloaded"),
        (500, b'{"code": "provider_maintenance"}', "upstream_error"),
        (404, b'{"code": "not_found"}', "upstream_rejected"),
    ],
)
def test_provider_errors_are_classified_by_status_and_problem_code(
    status: int, body: bytes, outcome: str
) -> None:
    from gateway.proxy import classify_provider_error

    assert classify_provider_error(status, body) == outcome


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("id 038090001234", "id 038*****1234"),
        ("/v1/x/%30%33%38%30%39%30%30%30%31%32%33%34", "/v1/x/038*****1234"),
        ("/v1/x/%2530%2533%2538090001234", "/v1/x/038*****1234"),
        ("\uff10\uff13\uff18\uff10\uff19\uff10\uff10\uff10\uff11\uff12\uff13\uff14", None),
        ("cmnd %31%32%33%34%35%36%37%38%39", "cmnd *****6789"),
        ("phone 0912345678, %20 kept as sent", "phone 0912345678, %20 kept as sent"),
    ],
    ids=["plain", "percent_encoded", "double_encoded", "full_width", "cmnd_encoded", "no_id"],
)
def test_personal_ids_are_masked_whatever_their_encoding(text: str, shown: str | None) -> None:
    from gateway.exchange_log import mask_personal_ids

    masked = mask_personal_ids(text)
    if shown is not None:
        assert masked == shown
    if "*****" in (shown or masked):  # the hidden middle digits are gone in every form
        assert "09000" not in unicodedata.normalize("NFKC", masked)
        assert "45678" not in masked


async def test_an_appended_observer_sees_each_finished_record_once(gw: Gateway) -> None:
    app, client, _, _ = gw
    seen: list[Any] = []
    app.state.runtime.observers.append(seen.append)
    good = await bearer(client)  # the token endpoint's answer is no refusal: no record
    answers = [await client.get(CITIZEN, headers=good), await client.get(CITIZEN)]
    assert [r.exchange_id for r in seen] == [a.headers["x-ndxp-exchange-id"] for a in answers]
    assert [r.outcome for r in seen] == ["ok", "unauthenticated"]
    assert sorted(r["exchange_id"] for r in await records(app)) == sorted(
        r.exchange_id for r in seen
    )


async def test_a_failing_observer_is_logged_and_the_others_still_run(gw: Gateway) -> None:
    app, client, _, _ = gw
    observers = app.state.runtime.observers

    def broken(_: Any) -> None:
        raise RuntimeError("observer bug")

    observers.insert(0, broken)
    with capture_logs() as logs:
        response = await client.get(CITIZEN, headers=await bearer(client))
    assert response.status_code == 200
    assert any(entry["event"] == "exchange_observer_failed" for entry in logs)
    assert any(entry["event"] == "exchange" for entry in logs)  # the log line still ran
    assert [r["outcome"] for r in await records(app)] == ["ok"]
