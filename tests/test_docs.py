"""The gateway's documents tell the truth: what ``/openapi.json`` and ``/docs`` serve, and what
the admin API and the token endpoint answer, match what is documented."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from gateway.kit_codes import code_table, render_markdown
from gateway.testing import (
    admin_headers,
    bearer,
    gateway_settings,
    running_gateway,
    small_registry,
)

ADMIN = admin_headers()
CITIZEN = "/population/v1/citizens/038090001234"


@pytest.fixture
async def gateway(tmp_path: Path) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    async with running_gateway(gateway_settings(tmp_path / "state", small_registry())) as pair:
        yield pair


async def test_live_openapi_defines_every_schema_it_refers_to(
    gateway: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gateway
    doc = (await client.get("/openapi.json")).json()
    text = str(doc)
    defined = set(doc["components"]["schemas"])
    referred = {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}
    assert {"Problem", "FieldError"} <= defined
    assert referred <= defined
    assert "HTTPValidationError" not in text  # validation errors are answered as 400 problems


async def test_docs_load_swagger_ui_from_the_gateway_not_a_cdn(
    gateway: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gateway
    page = await client.get("/docs")
    assert page.status_code == 200
    assert "cdn" not in page.text
    assert "https://" not in page.text.split("<body>")[0]
    for asset in ("/docs/assets/swagger-ui-bundle.js", "/docs/assets/swagger-ui.css"):
        assert (await client.get(asset)).status_code == 200


QUOTA = "/admin/quotas/onestop-thanh-hoa"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (QUOTA, {"limit": False}),
        (QUOTA, {"limit": True}),
        (QUOTA, {"limit": "5"}),
        ("/admin/clock", {"at": 0}),
        ("/admin/scenario", {"name": "baseline", "at": 0}),
    ],
    ids=["limit-false", "limit-true", "limit-string", "clock-0", "scenario-at-0"],
)
async def test_admin_api_refuses_what_its_schema_forbids_as_documented(
    gateway: tuple[FastAPI, httpx.AsyncClient], path: str, body: dict[str, object]
) -> None:
    app, client = gateway
    answer = await client.put(path, json=body, headers=ADMIN)
    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == "invalid_request"
    template = "/admin/quotas/{consumer}" if path == QUOTA else path
    put = app.openapi()["paths"][template]["put"]["responses"]
    assert "400" in put
    assert "422" not in put
    quotas = (await client.get("/admin/quotas?consumer=onestop-thanh-hoa", headers=ADMIN)).json()
    assert all(item["override"] is None for item in quotas["items"])


async def test_token_and_admin_errors_carry_an_exchange_id_ops_can_find(
    gateway: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gateway
    token = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": "x", "client_secret": "y"},
    )
    admin = await client.get("/admin/consumers/nobody", headers=ADMIN)
    for answer in (token, admin):
        assert answer.status_code in (401, 404)
        exchange_id = answer.headers["X-NDXP-Exchange-Id"]
        assert answer.json()["exchange_id"] == exchange_id
    found = None
    for _ in range(600):  # the log writes in batches: wait on the record, not a fixed time
        found = await client.get(
            f"/admin/exchanges/{token.headers['X-NDXP-Exchange-Id']}", headers=ADMIN
        )
        if found.status_code == 200:
            break
        await asyncio.sleep(0.05)
    assert found is not None
    assert found.json()["outcome"] == "unauthenticated"


async def test_ratelimit_is_on_every_answer_to_an_admitted_request_and_no_earlier_refusal(
    tmp_path: Path,
) -> None:
    def unreachable(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    settings = gateway_settings(tmp_path / "state", small_registry(daily_quota=100))
    transport = httpx.MockTransport(unreachable)
    async with running_gateway(settings, {"population": transport}) as (_, client):
        failed = await client.get(CITIZEN, headers=await bearer(client))
        refused = await client.get(CITIZEN)
    assert (failed.status_code, failed.json()["code"]) == (502, "upstream_unreachable")
    assert (
        failed.headers["RateLimit"]
        == '"daily";r=99;t=' + failed.headers["RateLimit"].split("t=")[1]
    )
    assert "RateLimit-Policy" in failed.headers
    assert refused.status_code == 401
    assert "RateLimit" not in refused.headers  # no consumer known, no quota used


def test_readme_code_table_is_the_generated_one() -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme.split("<!-- codes:begin -->\n")[1].split("<!-- codes:end -->")[0]
    assert table == render_markdown(code_table())
