"""The routes' hops in process: the LGSP and VDXP in front of a fake gateway (httpx.MockTransport).

What reaches the gateway (path, token, trace), what the caller gets back, what each hop logs,
X-Road's errors in both spellings, and a scenario's faults at ``hop: lgsp``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import jwt
import pytest
from fastapi import FastAPI

from contracts.xroad import pr_rest_path
from hops import create_lgsp_app, create_vdxp_app
from hops.hop import Trace, operation_at
from mock_services.scenarios import parse_scenario
from ndxp_config.settings import Settings, VdxpSettings

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
TOKEN = jwt.encode({"sub": "onestop-thanh-hoa", "province": "038"}, "k" * 32, algorithm="HS256")
CITIZEN = "/population/v1/citizens/038090001234"
CLIENT = "VN/GOV/UBND-038/MCDT"


class FakeGateway:
    """Answers like the gateway would; remembers every request it got."""

    def __init__(self, status: int = 200, error: Exception | None = None) -> None:
        self.status, self.error = status, error
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        if self.error is not None:
            raise self.error
        body = {"path": request.url.raw_path.decode(), "status": self.status}
        headers = {"X-NDXP-Exchange-Id": "f" * 32, "X-NDXP-Injected-Fault": "latency:x"}
        return httpx.Response(self.status, json=body, headers=headers)


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://hop") as client:
            yield client


def admin(settings: Settings) -> dict[str, str]:
    return {"Authorization": f"Bearer {settings.gateway.admin_token.get_secret_value()}"}


async def records(client: httpx.AsyncClient, settings: Settings) -> list[dict[str, Any]]:
    response = await client.get("/_hop/exchanges", headers=admin(settings))
    assert response.status_code == 200
    found: list[dict[str, Any]] = response.json()
    return found


def caller(trace: str = TRACE) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}", "traceparent": f"00-{trace}-00f067aa0ba902b7-01"}


# -- LGSP ---------------------------------------------------------------------------------


async def test_the_lgsp_carries_a_call_unchanged_with_the_token_and_the_trace(
    settings: Settings,
) -> None:
    gateway = FakeGateway()
    async with serving(create_lgsp_app(settings, transport=httpx.MockTransport(gateway))) as lgsp:
        response = await lgsp.get(CITIZEN, headers={**caller(), "X-NDXP-Province": "001"})
        logged = await records(lgsp, settings)

    assert response.status_code == 200
    assert response.json()["path"] == CITIZEN
    (sent,) = gateway.seen
    assert sent.headers["authorization"] == f"Bearer {TOKEN}"
    assert sent.headers["traceparent"].split("-")[1] == TRACE  # one trace, a new span
    assert sent.headers["traceparent"].split("-")[2] != "00f067aa0ba902b7"
    assert "x-ndxp-province" not in sent.headers  # a caller cannot choose it
    assert "x-ndxp-injected-fault" not in response.headers
    (record,) = logged
    assert record["exchange_id"] == response.headers["X-LGSP-Exchange-Id"]
    assert record | {"duration_ms": 0, "request_in_ts": None} == record | {
        "hop": "lgsp",
        "trace_id": TRACE,
        "consumer": "onestop-thanh-hoa",
        "provider": "population",
        "operation_id": "get_citizen",
        "status_code": 200,
        "outcome": "ok",
        "origin": "none",
        "gateway_exchange_id": "f" * 32,
        "duration_ms": 0,
        "request_in_ts": None,
    }


async def test_a_gateway_error_is_passed_on_and_logged_as_downstream(settings: Settings) -> None:
    gateway = FakeGateway(status=504)
    async with serving(create_lgsp_app(settings, transport=httpx.MockTransport(gateway))) as lgsp:
        response = await lgsp.get(CITIZEN, headers=caller())
        (record,) = await records(lgsp, settings)
    assert response.status_code == 504
    assert (record["outcome"], record["origin"]) == ("passed_on", "downstream")


@pytest.mark.parametrize(
    ("error", "status", "code", "outcome"),
    [
        (httpx.ConnectError("refused"), 502, "upstream_unreachable", "gateway_unreachable"),
        (httpx.ReadTimeout("slow"), 504, "upstream_timeout", "gateway_timeout"),
    ],
)
async def test_ndxp_out_of_reach_is_the_lgsps_failure(
    settings: Settings, error: Exception, status: int, code: str, outcome: str
) -> None:
    gateway = FakeGateway(error=error)
    async with serving(create_lgsp_app(settings, transport=httpx.MockTransport(gateway))) as lgsp:
        response = await lgsp.get(CITIZEN, headers=caller())
        (record,) = await records(lgsp, settings)
    assert response.status_code == status
    assert response.json()["code"] == code
    assert response.json()["hop"] == "lgsp"
    assert (record["outcome"], record["origin"]) == (outcome, "hop")


async def test_a_call_without_a_trace_starts_one_and_sends_it_on(settings: Settings) -> None:
    gateway = FakeGateway()
    async with serving(create_lgsp_app(settings, transport=httpx.MockTransport(gateway))) as lgsp:
        await lgsp.get(CITIZEN, headers={"Authorization": f"Bearer {TOKEN}"})
        (record,) = await records(lgsp, settings)
    assert gateway.seen[0].headers["traceparent"].split("-")[1] == record["trace_id"]


def lgsp_rule(fault: dict[str, Any], **match: Any) -> dict[str, Any]:
    return {
        "id": "fm-10-test",
        "title": "LGSP route fails",
        "description": "test",
        "source": ["003 Phụ lục V row 43 (Đắk Lắk)"],
        "rules": [
            {
                "id": "lgsp-civil",
                "failure_mode": "FM-10",
                "match": {"provider": "population", "hop": "lgsp", **match},
                "fault": fault,
            }
        ],
    }


async def test_a_fault_at_the_lgsp_never_reaches_the_gateway_and_is_logged_at_the_hop(
    settings: Settings,
) -> None:
    gateway = FakeGateway()
    scenario = lgsp_rule({"kind": "http_error", "status": 502, "code": "lgsp_route_error"})
    async with serving(create_lgsp_app(settings, transport=httpx.MockTransport(gateway))) as lgsp:
        switched = await lgsp.put("/_faults/scenario", json=scenario, headers=admin(settings))
        assert switched.status_code == 200
        failed = await lgsp.get(CITIZEN, headers=caller())
        await lgsp.get("/business-registry/v1/enterprises/0100109106", headers=caller())
        logged = await records(lgsp, settings)

    assert failed.status_code == 502
    assert failed.json()["code"] == "lgsp_route_error"
    assert [r.url.path for r in gateway.seen] == ["/business-registry/v1/enterprises/0100109106"]
    assert [(r["outcome"], r["origin"], r["injected_fault"]) for r in logged] == [
        ("hop_fault", "hop", "http_error:lgsp-civil"),
        ("ok", "none", None),
    ]


async def test_a_lgsp_rule_matches_the_calling_province_from_the_token(settings: Settings) -> None:
    gateway = FakeGateway()
    scenario = lgsp_rule({"kind": "http_error"}, provinces=["066"])  # Đắk Lắk, not Thanh Hóa
    async with serving(create_lgsp_app(settings, transport=httpx.MockTransport(gateway))) as lgsp:
        await lgsp.put("/_faults/scenario", json=scenario, headers=admin(settings))
        response = await lgsp.get(CITIZEN, headers=caller())
    assert response.status_code == 200


def test_a_database_rule_is_not_a_hops_and_a_record_kind_cannot_strike_at_a_hop() -> None:
    scenario = parse_scenario(lgsp_rule({"kind": "http_error"}))
    assert scenario.rules_for("population") == ()
    assert len(scenario.rules_for("population", "lgsp")) == 1
    with pytest.raises(ValueError, match="at the lgsp hop use one of"):
        parse_scenario(lgsp_rule({"kind": "empty_body"}))


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("GET", CITIZEN, "get_citizen"),
        ("POST", "/population/v1/citizens/verify", "verify_citizen"),
        ("GET", "/population/v1/citizens", None),
        ("GET", "/oauth2/token", None),
        ("DELETE", CITIZEN, None),
    ],
)
def test_the_hop_finds_the_operation_a_path_names(
    method: str, path: str, operation: str | None
) -> None:
    found = operation_at(method, path)
    assert (found.operation_id if found else None) == operation


@pytest.mark.parametrize(
    "traceparent",
    [None, "garbage", f"00-{'0' * 32}-00f067aa0ba902b7-01", f"00-{TRACE}-{'0' * 16}-01"],
)
def test_an_invalid_traceparent_starts_a_new_trace(traceparent: str | None) -> None:
    trace = Trace.continue_from(traceparent)
    assert len(trace.trace_id) == 32
    assert trace.trace_id not in (TRACE, "0" * 32)


# -- VDXP ---------------------------------------------------------------------------------


def vdxp_settings(make_settings: Callable[..., Settings], spelling: str) -> Settings:
    return make_settings(vdxp=VdxpSettings(error_spelling=spelling))


async def test_vdxp_maps_a_pr_rest_path_to_the_gateway_and_sets_xroad_headers(
    settings: Settings,
) -> None:
    gateway = FakeGateway()
    async with serving(create_vdxp_app(settings, transport=httpx.MockTransport(gateway))) as vdxp:
        path = pr_rest_path("VN", "population", "/v1/citizens/038090001234")
        response = await vdxp.get(
            path, headers={**caller(), "X-Road-Client": CLIENT, "X-Road-Id": "abc-1"}
        )
        (record,) = await records(vdxp, settings)

    assert response.status_code == 200
    assert response.json()["path"] == CITIZEN
    assert response.headers["X-Road-Id"] == "abc-1"
    assert response.headers["X-Road-Client"] == CLIENT
    assert response.headers["X-Road-Service"] == "VN/GOV/BCA/CSDLQGDC/population"
    assert response.headers["X-Road-Request-Id"] == record["exchange_id"]
    assert (record["xroad_id"], record["trace_id"], record["hop"]) == ("abc-1", TRACE, "vdxp")


async def test_vdxp_generates_an_xroad_id_when_the_client_sends_none(settings: Settings) -> None:
    gateway = FakeGateway()
    async with serving(create_vdxp_app(settings, transport=httpx.MockTransport(gateway))) as vdxp:
        path = pr_rest_path("VN", "population", "/v1/citizens/038090001234")
        first = await vdxp.get(path, headers={**caller(), "X-Road-Client": CLIENT})
        second = await vdxp.get(path, headers={**caller(), "X-Road-Client": CLIENT})
    assert len(first.headers["X-Road-Id"]) == 36  # a UUID
    assert first.headers["X-Road-Id"] != second.headers["X-Road-Id"]


@pytest.mark.parametrize(
    ("spelling", "missing", "invalid", "unknown", "unreachable"),
    [
        pytest.param(
            "7.7",
            "Client.MissingHeader",
            "Client.InvalidClientIdentifier",
            "Server.ServerProxy.UnknownService",
            "Server.ServerProxy.ServiceFailed.NetworkError",
            id="7.7",
        ),
        pytest.param(
            "7.8",
            "client.missing_header",
            "client.invalid_client_identifier",
            "server.serverproxy.unknown_service",
            "server.serverproxy.service_failed.network_error",
            id="7.8",
        ),
    ],
)
async def test_vdxp_errors_are_xroads_in_the_chosen_spelling(
    make_settings: Callable[..., Settings],
    spelling: str,
    missing: str,
    invalid: str,
    unknown: str,
    unreachable: str,
) -> None:
    settings = vdxp_settings(make_settings, spelling)
    path = pr_rest_path("VN", "population", "/v1/citizens/038090001234")
    down = httpx.MockTransport(FakeGateway(error=httpx.ConnectError("refused")))
    async with serving(create_vdxp_app(settings, transport=down)) as vdxp:
        answers = [
            await vdxp.get(path, headers=caller()),
            await vdxp.get(path, headers={**caller(), "X-Road-Client": "VN/GOV"}),
            await vdxp.get("/r1/VN/GOV/BCA/CSDLQGDC/passports/v1/x", headers=caller()),
            await vdxp.get(path, headers={**caller(), "X-Road-Client": CLIENT}),
        ]
        logged = await records(vdxp, settings)

    expected = [(400, missing), (400, invalid), (500, unknown), (500, unreachable)]
    assert [(a.status_code, a.json()["type"]) for a in answers] == expected
    for answer in answers:
        assert answer.headers["X-Road-Error"] == answer.json()["type"]
        assert set(answer.json()) == {"type", "message", "detail"}
        assert len(answer.json()["detail"]) == 36  # a UUID
    assert [r["origin"] for r in logged] == ["hop"] * 4


async def test_vdxp_passes_the_gateways_own_errors_through_unchanged(settings: Settings) -> None:
    gateway = FakeGateway(status=429)
    async with serving(create_vdxp_app(settings, transport=httpx.MockTransport(gateway))) as vdxp:
        path = pr_rest_path("VN", "population", "/v1/citizens/038090001234")
        response = await vdxp.get(path, headers={**caller(), "X-Road-Client": CLIENT})
    assert response.status_code == 429
    assert "X-Road-Error" not in response.headers
    assert json.loads(response.content)["path"] == CITIZEN


async def test_vdxp_carries_the_token_request_to_the_gateway(settings: Settings) -> None:
    gateway = FakeGateway()
    async with serving(create_vdxp_app(settings, transport=httpx.MockTransport(gateway))) as vdxp:
        response = await vdxp.post("/oauth2/token", data={"grant_type": "client_credentials"})
    assert response.status_code == 200
    assert gateway.seen[0].url.path == "/oauth2/token"


async def test_the_hop_exports_its_metrics(settings: Settings) -> None:
    gateway = FakeGateway()
    async with serving(create_lgsp_app(settings, transport=httpx.MockTransport(gateway))) as lgsp:
        await lgsp.get(CITIZEN, headers=caller())
        metrics = (await lgsp.get("/metrics")).text
    assert (
        'ndxp_hop_exchanges_total{hop="lgsp",outcome="ok",provider="population",status="200"} 1.0'
        in metrics
    )


async def test_the_hop_log_needs_the_admin_token(settings: Settings) -> None:
    async with serving(
        create_lgsp_app(settings, transport=httpx.MockTransport(FakeGateway()))
    ) as lgsp:
        response = await lgsp.get("/_hop/exchanges")
    assert response.status_code == 401


async def test_a_bug_in_the_hop_is_answered_and_recorded(settings: Settings) -> None:
    def broken(request: httpx.Request) -> httpx.Response:
        raise RuntimeError("a bug, not a network error")

    app = create_lgsp_app(settings, transport=httpx.MockTransport(broken))
    async with serving(app) as lgsp:
        response = await lgsp.get(CITIZEN, headers=caller())
        (record,) = await records(lgsp, settings)
    assert (response.status_code, response.json()["code"]) == (500, "hop_internal_error")
    assert (record["outcome"], record["origin"]) == ("hop_error", "hop")


async def test_vdxp_takes_the_last_xroad_client_when_sent_twice(settings: Settings) -> None:
    gateway = FakeGateway()
    async with serving(create_vdxp_app(settings, transport=httpx.MockTransport(gateway))) as vdxp:
        path = pr_rest_path("VN", "population", "/v1/citizens/038090001234")
        headers = [*caller().items(), ("X-Road-Client", "VN/GOV"), ("X-Road-Client", CLIENT)]
        response = await vdxp.get(path, headers=headers)
    assert response.status_code == 200
    assert response.headers["X-Road-Client"] == CLIENT
