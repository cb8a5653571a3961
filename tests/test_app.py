"""create_app: a bad registry stops the start; reserved paths; the lifespan flushes the log."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from gateway.app import create_app
from gateway.exchange_log import ExchangeQuery, open_exchange_log
from gateway.registry import RegistryError
from gateway.testing import bearer, gateway_settings, running_gateway, small_registry
from ndxp_config.settings import GatewaySettings, Settings


def test_bad_registry_stops_create_app_with_the_field_named(tmp_path: Path) -> None:
    path = tmp_path / "registry.yaml"
    path.write_text("providers:\n  - name: population\n    operations: []\n", encoding="utf-8")
    settings = Settings(state_dir=tmp_path, gateway=GatewaySettings(registry_path=path))
    with pytest.raises(RegistryError, match=r"providers\[0\]\.operations"):
        create_app(settings)


@pytest.mark.parametrize("path", ["/admin/nothing", "/oauth2/other", "/metrics/x"])
async def test_unknown_gateway_paths_are_not_found_and_recorded_once(
    tmp_path: Path, path: str
) -> None:
    # Every refusal is an exchange (issue 10), the router's 404s included.
    settings = gateway_settings(tmp_path / "state", small_registry())
    async with running_gateway(settings) as (app, client):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        await app.state.runtime.log.flush()
        page = await app.state.runtime.log.query(ExchangeQuery())
        assert [(r.outcome, r.status_code) for r in page.items] == [("not_found", 404)]
        assert page.items[0].exchange_id == response.headers["x-ndxp-exchange-id"]


async def test_shutdown_flushes_every_record(tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path / "state", small_registry())
    ok = httpx.MockTransport(lambda _: httpx.Response(200, json={"loc": [], "msg": "", "type": ""}))
    async with running_gateway(settings, {"population": ok}) as (_, client):
        token = await bearer(client)
        for _ in range(50):
            await client.get("/population/v1/citizens/038090001234", headers=token)
    log = open_exchange_log(None, settings.state_dir)
    await log.start()
    try:
        assert (await log.query(ExchangeQuery(limit=1))).total == 50
    finally:
        await log.close()


async def test_wrong_method_on_a_gateway_endpoint_is_a_problem(tmp_path: Path) -> None:
    settings = gateway_settings(tmp_path / "state", small_registry())
    async with running_gateway(settings) as (_, client):
        response = await client.delete("/healthz")
        assert response.status_code == 405
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "method_not_allowed"
        assert response.headers["allow"] == "GET"


async def test_a_literal_segment_wins_in_the_allow_of_an_admin_405(tmp_path: Path) -> None:
    # /admin/quotas/{consumer}/reset takes POST; the PUT of /admin/quotas/{consumer}/{service}
    # matches the same path but is not that endpoint's.
    settings = gateway_settings(tmp_path / "state", small_registry())
    async with running_gateway(settings) as (_, client):
        reset = await client.options("/admin/quotas/onestop-thanh-hoa/reset")
        assert (reset.status_code, reset.headers["allow"]) == (405, "POST")
        service = await client.post("/admin/quotas/onestop-thanh-hoa/population")
        assert (service.status_code, service.headers["allow"]) == (405, "PUT")
