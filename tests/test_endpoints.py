"""The token endpoint, /healthz and /metrics over HTTP."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from gateway.testing import THANH_HOA, bearer, gateway_settings, running_gateway, small_registry


@pytest.fixture
async def gw(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    registry = small_registry(daily_quota=10, service_quotas={"population.get_citizen": 4})
    settings = gateway_settings(tmp_path / "state", registry, token_ttl_s=120)
    ok = httpx.MockTransport(lambda _: httpx.Response(200, json={"loc": [], "msg": "", "type": ""}))
    async with running_gateway(settings, {"population": ok}) as running:
        yield running


async def test_token_from_form_credentials(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = gw
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": THANH_HOA[0],
              "client_secret": THANH_HOA[1]},
    )  # fmt: skip
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 120
    assert response.headers["cache-control"] == "no-store"


async def test_token_from_http_basic(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = gw
    basic = base64.b64encode(f"{THANH_HOA[0]}:{THANH_HOA[1]}".encode()).decode()
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert response.status_code == 200
    token = response.json()["access_token"]
    call = await client.get(
        "/population/v1/citizens/1", headers={"Authorization": f"Bearer {token}"}
    )
    assert call.status_code == 200


async def test_wrong_secret_is_401_problem(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = gw
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": THANH_HOA[0],
              "client_secret": "guess"},
    )  # fmt: skip
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthenticated"
    assert response.json()["error"] == "invalid_client"


async def test_unsupported_grant_is_400(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = gw
    response = await client.post("/oauth2/token", data={"grant_type": "password"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


async def test_healthz_needs_no_token(gw: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = gw
    response = await client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_metrics_expose_counters_and_quota_gauges_from_the_store(
    gw: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gw
    token = await bearer(client)
    for _ in range(3):
        await client.get("/population/v1/citizens/038090001234", headers=token)
    text = (await client.get("/metrics")).text
    assert (
        'ndxp_exchanges_total{consumer="onestop-thanh-hoa",outcome="ok",provider="population",'
        'service="population.get_citizen"} 3.0'
    ) in text
    assert 'ndxp_quota_used{consumer="onestop-thanh-hoa",policy="daily"} 3.0' in text
    assert (
        'ndxp_quota_limit{consumer="onestop-thanh-hoa",policy="daily-population.get_citizen"} 4.0'
    ) in text
    assert 'ndxp_exchange_duration_seconds_bucket{le="60.0",provider="population"' in text
    assert "038090001234" not in text
