"""The admin API: behind the admin token; registry, quotas at runtime, exchanges, health."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from contracts.headers import ERROR_HEADER
from gateway.testing import (
    admin_headers,
    bearer,
    gateway_settings,
    running_gateway,
    small_registry,
)

CITIZEN = "/population/v1/citizens/038090001234"
VALID = {"loc": ["x"], "msg": "m", "type": "t"}
ADMIN = admin_headers()


def _upstream(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/healthz":
        return httpx.Response(200, json={"status": "ok"})
    return httpx.Response(200, json=VALID)


def _down(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("refused", request=request)


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    registry = small_registry(daily_quota=100, service_quotas={"population.get_citizen": 3})
    settings = gateway_settings(tmp_path / "state", registry)
    transports = {
        "population": httpx.MockTransport(_upstream),
        "civil-registry": httpx.MockTransport(_down),
    }
    async with running_gateway(settings, transports) as running:
        yield running


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic dGVzdC1hZG1pbi10b2tlbg=="}],
    ids=["missing", "wrong", "other-scheme"],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/admin/registry"), ("GET", "/admin/quotas"), ("PUT", "/admin/quotas/x"),
     ("GET", "/admin/exchanges"), ("GET", "/admin/exchanges/export"), ("GET", "/admin/health")],
)  # fmt: skip
async def test_admin_api_needs_the_admin_token(
    gw: tuple[FastAPI, httpx.AsyncClient], headers: dict[str, str], method: str, path: str
) -> None:
    _, client = gw
    response = await client.request(method, path, headers=headers, json={"limit": 1})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response.headers[ERROR_HEADER] == "unauthenticated"


async def test_consumer_token_does_not_open_the_admin_api(
    gw: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gw
    response = await client.get("/admin/registry", headers=await bearer(client))
    assert response.status_code == 401


async def test_registry_view_has_no_secrets(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = gw
    response = await client.get("/admin/registry", headers=ADMIN)
    assert response.status_code == 200
    assert "dev-secret" not in response.text
    body = response.json()
    assert [p["name"] for p in body["providers"]] == ["population", "civil-registry"]
    operation = body["providers"][0]["operations"][0]
    assert operation["service"] == "population.get_citizen"
    assert operation["timeouts"] == {"connect_s": 0.5, "read_s": 0.3, "total_s": 1.0}
    assert body["consumers"][0]["service_quotas"] == {"population.get_citizen": 3}


async def test_quota_override_takes_effect_at_once_and_can_be_cleared(
    gw: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gw
    token = await bearer(client)
    assert (await client.get(CITIZEN, headers=token)).status_code == 200

    put = await client.put(
        "/admin/quotas/onestop-thanh-hoa/population.get_citizen", json={"limit": 1}, headers=ADMIN
    )
    assert put.status_code == 200
    entry = next(e for e in put.json()["items"] if e["service"] == "population.get_citizen")
    assert (entry["default_limit"], entry["override"], entry["limit"], entry["used"]) == (
        3,
        1,
        1,
        1,
    )
    assert (await client.get(CITIZEN, headers=token)).status_code == 429

    await client.put(
        "/admin/quotas/onestop-thanh-hoa/population.get_citizen",
        json={"limit": None},
        headers=ADMIN,
    )
    assert (await client.get(CITIZEN, headers=token)).status_code == 200


async def test_consumer_wide_override_and_reset(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = gw
    token = await bearer(client)
    await client.put("/admin/quotas/onestop-thanh-hoa", json={"limit": 1}, headers=ADMIN)
    assert (await client.get(CITIZEN, headers=token)).status_code == 200
    assert (await client.get(CITIZEN, headers=token)).status_code == 429

    reset = await client.post("/admin/quotas/onestop-thanh-hoa/reset", headers=ADMIN)
    assert reset.status_code == 200
    assert all(e["used"] == 0 for e in reset.json()["items"])
    assert (await client.get(CITIZEN, headers=token)).status_code == 200


async def test_quota_report_for_one_consumer(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = gw
    await client.get(CITIZEN, headers=await bearer(client))
    report = (await client.get("/admin/quotas?consumer=onestop-thanh-hoa", headers=ADMIN)).json()
    assert report["timezone"] == "Asia/Ho_Chi_Minh"
    assert report["resets_in_s"] >= 1
    by_policy = {e["policy"]: e for e in report["items"]}
    assert by_policy["daily"]["remaining"] == 99
    assert by_policy["daily-population.get_citizen"]["remaining"] == 2


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/quotas?consumer=onestop-atlantis", None),
        ("PUT", "/admin/quotas/onestop-atlantis", {"limit": 1}),
        ("PUT", "/admin/quotas/onestop-thanh-hoa/population.nothing", {"limit": 1}),
        ("GET", "/admin/exchanges/0000", None),
    ],
)
async def test_unknown_admin_objects_are_404_not_found(
    gw: tuple[FastAPI, httpx.AsyncClient], method: str, path: str, body: object
) -> None:
    _, client = gw
    response = await client.request(method, path, json=body, headers=ADMIN)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_negative_limit_is_400_invalid_request(
    gw: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gw
    response = await client.put(
        "/admin/quotas/onestop-thanh-hoa", json={"limit": -1}, headers=ADMIN
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"
    assert response.json()["errors"][0]["loc"] == ["body", "limit"]


async def _traffic(app: FastAPI, client: httpx.AsyncClient) -> str:
    token = await bearer(client)
    ok = await client.get(CITIZEN, headers=token)
    await client.get("/population/v1/nothing", headers=token)
    await client.get(CITIZEN)
    await app.state.runtime.log.flush()
    return ok.headers["x-ndxp-exchange-id"]


async def test_exchanges_are_queried_filtered_and_paged(
    gw: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    app, client = gw
    await _traffic(app, client)
    page = (await client.get("/admin/exchanges?limit=2", headers=ADMIN)).json()
    assert (page["total"], len(page["items"]), page["limit"]) == (3, 2, 2)
    assert page["items"][0]["outcome"] == "unauthenticated"  # newest first

    ok = (await client.get("/admin/exchanges?outcome=ok", headers=ADMIN)).json()
    assert [r["service"] for r in ok["items"]] == ["population.get_citizen"]
    mine = (await client.get("/admin/exchanges?consumer=onestop-thanh-hoa", headers=ADMIN)).json()
    assert mine["total"] == 2
    future = (
        await client.get(
            "/admin/exchanges", params={"since": "2999-01-01T00:00:00+07:00"}, headers=ADMIN
        )
    ).json()
    assert future["total"] == 0


async def test_naive_time_filter_is_400(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = gw
    response = await client.get("/admin/exchanges?since=2024-01-01T00:00:00", headers=ADMIN)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


async def test_one_exchange_by_id(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = gw
    exchange_id = await _traffic(app, client)
    record = (await client.get(f"/admin/exchanges/{exchange_id}", headers=ADMIN)).json()
    assert record["exchange_id"] == exchange_id
    assert record["path_template"] == "/v1/citizens/{personal_id}"


async def test_export_streams_jsonl_and_csv(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    app, client = gw
    await _traffic(app, client)
    jsonl = await client.get("/admin/exchanges/export?format=jsonl", headers=ADMIN)
    assert jsonl.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in jsonl.text.splitlines()]
    assert [r["outcome"] for r in lines] == ["ok", "unknown_service", "unauthenticated"]

    exported = await client.get(
        "/admin/exchanges/export", params={"format": "csv", "outcome": "ok"}, headers=ADMIN
    )
    assert exported.headers["content-type"].startswith("text/csv")
    assert "attachment" in exported.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["outcome"] for r in rows] == ["ok"]


async def test_health_probes_each_provider(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = gw
    report = (await client.get("/admin/health", headers=ADMIN)).json()
    assert report["status"] == "degraded"
    assert report["providers"]["population"]["status"] == "up"
    down = report["providers"]["civil-registry"]
    assert down["status"] == "down"
    assert down["detail"].startswith("upstream_unreachable")
    assert report["exchange_log_dropped"] == 0
