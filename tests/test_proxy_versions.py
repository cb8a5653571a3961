"""Contract versions through the gateway: a refused contract-valid request is flagged (FM-08),
and v1 and v2 of an operation draw on one daily counter."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from gateway.exchange_log import ExchangeQuery
from gateway.registry import OperationSpec, Registry
from gateway.testing import (
    TEST_RESPONSE_MODEL,
    admin_headers,
    bearer,
    gateway_settings,
    running_gateway,
    small_registry,
)

V1 = "/population/v1/citizens/038090001234"
V2 = "/population/v2/citizens/038090001234"
VERIFY = "/population/v1/citizens/verify"
CLAIM = {"personal_id": "038090001234", "full_name": "Lê Văn An", "date_of_birth": "1990-05-01"}
ADMIN = admin_headers()
Handler = Callable[[httpx.Request], httpx.Response]


def _registry(lookups: int) -> Registry:
    """The small registry with v1 verification's request model and a v2 lookup sharing v1's
    counter (``lookups`` a day)."""
    base = small_registry(service_quotas={"population.get_citizen": lookups})
    population, *others = base.providers
    operations = [
        op.model_copy(update={"request_model": "population:CitizenVerification"})
        if op.id == "verify_citizen"
        else op
        for op in population.operations
    ]
    operations.append(
        OperationSpec(
            id="get_citizen_v2",
            method="GET",
            path="/v2/citizens/{personal_id}",
            response_model=TEST_RESPONSE_MODEL,
            quota_service="population.get_citizen",
        )
    )
    population = population.model_copy(update={"operations": operations})
    return Registry(providers=[population, *others], consumers=base.consumers)


@asynccontextmanager
async def _gateway(
    tmp_path: Path, handler: Handler, lookups: int = 100
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    transport = httpx.MockTransport(handler)
    settings = gateway_settings(tmp_path / "state", _registry(lookups))
    async with running_gateway(settings, {"population": transport}) as running:
        yield running


async def _records(app: FastAPI) -> list[dict[str, Any]]:
    await app.state.runtime.log.flush()
    page = await app.state.runtime.log.query(ExchangeQuery(limit=100))
    return [r.model_dump() for r in page.items]


def _refusing(*fields: tuple[str, str]) -> Handler:
    """A provider answering 422 with ``errors`` at these (body field, type)."""
    errors = [{"loc": ["body", name], "msg": "Field required", "type": t} for name, t in fields]
    problem = {"title": "Invalid request", "status": 422, "code": "invalid_request"}

    def handler(_: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json={**problem, "errors": errors})

    return handler


async def test_a_refused_contract_valid_request_is_passed_on_and_flagged(tmp_path: Path) -> None:
    async with _gateway(tmp_path, _refusing(("procedure_code", "missing"))) as (app, client):
        response = await client.post(VERIFY, json=CLAIM, headers=await bearer(client))
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "procedure_code"]
        flagged = "request: refused a contract-valid request (missing: procedure_code)"
        assert response.headers["x-ndxp-contract-violations"] == flagged
        (record,) = await _records(app)
        assert (record["outcome"], record["contract_violations"]) == (
            "upstream_rejected",
            [flagged],
        )


@pytest.mark.parametrize(
    ("claim", "fields"),
    [
        pytest.param({**CLAIM, "full_name": ""}, [("procedure_code", "missing")], id="invalid"),
        pytest.param(CLAIM, [("full_name", "value_error")], id="contract-field"),
    ],
)
async def test_a_refusal_the_contract_explains_is_not_flagged(
    tmp_path: Path, claim: dict[str, str], fields: list[tuple[str, str]]
) -> None:
    async with _gateway(tmp_path, _refusing(*fields)) as (app, client):
        response = await client.post(VERIFY, json=claim, headers=await bearer(client))
        assert response.status_code == 422
        assert "x-ndxp-contract-violations" not in response.headers
        (record,) = await _records(app)
        assert (record["outcome"], record["contract_violations"]) == ("upstream_rejected", [])


async def test_v1_and_v2_share_one_daily_counter_shown_once(tmp_path: Path) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json={"loc": ["a"], "msg": "m", "type": "t"})

    async with _gateway(tmp_path, handler, lookups=3) as (_, client):
        token = await bearer(client)
        statuses = [(await client.get(path, headers=token)).status_code for path in (V1, V2, V2)]
        assert statuses == [200, 200, 200]
        # The fourth lookup is refused whichever version asks: 3 a day in all, not 3 each.
        refused = await client.get(V2, headers=token)
        assert refused.status_code == 429
        assert refused.json()["violated-policies"] == ["daily-population.get_citizen"]
        assert (await client.get(V1, headers=token)).status_code == 429
        assert seen == ["/v1/citizens/038090001234"] + ["/v2/citizens/038090001234"] * 2

        quotas = await client.get("/admin/quotas?consumer=onestop-thanh-hoa", headers=ADMIN)
        services = [(e["service"], e["used"]) for e in quotas.json()["items"]]
        assert services == [(None, 3), ("population.get_citizen", 3)]

        # An override set on the v2 service is the shared counter's.
        put = await client.put(
            "/admin/quotas/onestop-thanh-hoa/population.get_citizen_v2",
            json={"limit": 4},
            headers=ADMIN,
        )
        assert put.status_code == 200
        entry = next(e for e in put.json()["items"] if e["service"] == "population.get_citizen")
        assert (entry["override"], entry["remaining"]) == (4, 1)
        assert (await client.get(V1, headers=token)).status_code == 200
        reset = await client.post(
            "/admin/quotas/onestop-thanh-hoa/reset?service=population.get_citizen_v2",
            headers=ADMIN,
        )
        entry = next(e for e in reset.json()["items"] if e["service"] == "population.get_citizen")
        assert (entry["used"], entry["limit"]) == (0, 4)


async def test_a_consumer_cannot_be_given_a_quota_on_a_shared_counter(tmp_path: Path) -> None:
    async with _gateway(tmp_path, _refusing()) as (_, client):
        new = {"id": "lgsp-thanh-hoa", "name": "LGSP tỉnh Thanh Hóa", "province": "038"}
        refused = await client.post(
            "/admin/consumers",
            json={**new, "service_quotas": {"population.get_citizen_v2": 10}},
            headers=ADMIN,
        )
        assert refused.status_code == 400
        assert refused.json()["code"] == "invalid_request"
        assert "counts against population.get_citizen" in refused.json()["detail"]
        ok = await client.post(
            "/admin/consumers",
            json={**new, "service_quotas": {"population.get_citizen": 10}},
            headers=ADMIN,
        )
        assert ok.status_code == 201, ok.text
