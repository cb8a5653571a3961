"""The gateway's scenario control: catalogue, an all-or-nothing switch of every mock, runs,
the fault clock — against the four real mock apps in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from contracts.exchange import ExchangeRecord
from gateway.testing import ADMIN_TOKEN, admin_headers, bearer, running_gateway
from mock_services.apps import create_mock_app
from ndxp_config.settings import MOCK_NAMES, GatewaySettings, Settings


class Refusing(httpx.AsyncBaseTransport):
    """A mock that cannot be reached."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state", gateway=GatewaySettings(admin_token=SecretStr(ADMIN_TOKEN))
    )


@pytest.fixture
def mocks(settings: Settings) -> dict[str, FastAPI]:
    return {name: create_mock_app(name, settings) for name in MOCK_NAMES}


@pytest.fixture
async def admin(settings: Settings, mocks: dict[str, FastAPI]) -> AsyncIterator[httpx.AsyncClient]:
    transports = {name: httpx.ASGITransport(app=app) for name, app in mocks.items()}
    async with running_gateway(settings, transports) as (_app, client):
        client.headers.update(admin_headers())
        yield client


def active(mocks: dict[str, FastAPI]) -> dict[str, str | None]:
    return {
        name: (app.state.fault_engine.scenario.id if app.state.fault_engine.scenario else None)
        for name, app in mocks.items()
    }


async def test_the_catalogue_lists_every_scenario_with_its_failure_modes(
    admin: httpx.AsyncClient,
) -> None:
    response = await admin.get("/admin/scenarios")
    assert response.status_code == 200
    found = {item["id"]: item for item in response.json()}
    assert {"baseline", "fm-01", "fm-11", "reported-2024"} <= set(found)
    assert found["baseline"]["rules"] == 0
    assert found["fm-11"]["failure_modes"] == ["FM-11"]
    assert all(item["source"] for name, item in found.items() if name != "baseline")


async def test_show_returns_the_whole_scenario(admin: httpx.AsyncClient) -> None:
    response = await admin.get("/admin/scenarios/fm-03")
    assert response.status_code == 200
    assert response.json()["id"] == "fm-03"
    assert response.json()["rules"]


@pytest.mark.parametrize("name", ["nope", "../baseline", "..%2Fbaseline", "Baseline"])
async def test_unknown_or_unsafe_names_are_404(admin: httpx.AsyncClient, name: str) -> None:
    response = await admin.put("/admin/scenario", json={"name": name})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


async def test_a_switch_reaches_every_mock_and_starts_a_run(
    admin: httpx.AsyncClient, mocks: dict[str, FastAPI]
) -> None:
    response = await admin.put("/admin/scenario", json={"name": "reported-2024", "seed": 9})
    assert response.status_code == 200, response.text
    run = response.json()
    assert run["scenario"] == "reported-2024"
    assert run["seed"] == 9
    assert run["document"]["seed"] == 9
    assert run["ended_at"] is None
    assert set(active(mocks).values()) == {"reported-2024"}
    assert all(app.state.fault_engine.scenario.seed == 9 for app in mocks.values())

    status = (await admin.get("/admin/scenario")).json()
    assert status["run"]["run_id"] == run["run_id"]
    assert {p["scenario"] for p in status["providers"].values()} == {"reported-2024"}

    cleared = await admin.delete("/admin/scenario")
    assert cleared.json()["scenario"] == "baseline"
    runs = (await admin.get("/admin/runs")).json()["items"]
    assert [r["scenario"] for r in runs] == ["baseline", "reported-2024"]
    assert runs[1]["ended_at"] == runs[0]["started_at"]
    latest = (await admin.get("/admin/runs/latest")).json()
    assert latest["run_id"] == runs[0]["run_id"]
    assert (await admin.get("/admin/runs/no-such-run")).status_code == 404


async def test_a_switch_is_all_or_nothing(settings: Settings, mocks: dict[str, FastAPI]) -> None:
    transports: dict[str, httpx.AsyncBaseTransport] = {
        name: httpx.ASGITransport(app=app) for name, app in mocks.items()
    }
    async with running_gateway(settings, transports) as (_app, client):
        client.headers.update(admin_headers())
        assert (await client.put("/admin/scenario", json={"name": "fm-01"})).status_code == 200
    transports["civil-registry"] = Refusing()
    async with running_gateway(settings, transports) as (_app, client):
        client.headers.update(admin_headers())
        response = await client.put("/admin/scenario", json={"name": "reported-2024"})
        assert response.status_code == 502
        assert "civil-registry" in response.json()["detail"]
        runs = (await client.get("/admin/runs")).json()["items"]
    # Nobody moved: the three that switched were put back on fm-01; no run was recorded.
    assert active(mocks) == dict.fromkeys(MOCK_NAMES, "fm-01")
    assert [r["scenario"] for r in runs] == ["fm-01"]


async def test_the_clock_shifts_every_mock(
    admin: httpx.AsyncClient, mocks: dict[str, FastAPI]
) -> None:
    response = await admin.put("/admin/clock", json={"at": "2024-06-04T09:00:00+07:00"})
    assert response.status_code == 200
    for name, app in mocks.items():
        now = app.state.fault_engine.now()
        assert (now.date().isoformat(), now.hour) == ("2024-06-04", 9), name
        assert response.json()[name]["clock"].startswith("2024-06-04T09:0")
    await admin.put("/admin/clock", json={"at": None})
    assert all(app.state.fault_engine.now().year > 2024 for app in mocks.values())


async def test_a_clock_without_offset_is_refused(admin: httpx.AsyncClient) -> None:
    response = await admin.put("/admin/clock", json={"at": "2024-06-04T09:00:00"})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("GET", "/admin/scenarios", None),
        ("PUT", "/admin/scenario", {"name": "fm-01"}),
        ("DELETE", "/admin/scenario", None),
        ("PUT", "/admin/clock", {"at": None}),
        ("GET", "/admin/runs", None),
    ],
)
async def test_scenario_control_needs_the_admin_token(
    settings: Settings, method: str, path: str, body: dict[str, Any] | None
) -> None:
    async with running_gateway(settings) as (_app, client):
        response = await client.request(method, path, json=body)
    assert response.status_code == 401


async def test_a_gateway_rule_refuses_its_province_in_its_window_and_names_the_rule(
    settings: Settings, mocks: dict[str, FastAPI]
) -> None:
    """fm-07's rule (hop: gateway): Cao Bằng's calls to the business registry during office
    hours get the gateway's own 403 sandbox_window_closed, recorded as the rule's fault;
    another province, another database and the weekend go through."""
    transports = {name: httpx.ASGITransport(app=app) for name, app in mocks.items()}
    async with running_gateway(settings, transports) as (app, client):
        records: list[ExchangeRecord] = []
        app.state.runtime.observers.append(records.append)
        switched = await client.put(
            "/admin/scenario",
            json={"name": "fm-07", "at": "2024-06-03T09:00:00+07:00"},  # a Monday
            headers=admin_headers(),
        )
        assert switched.status_code == 200, switched.text
        cao_bang = await bearer(client, ("onestop-cao-bang", "dev-secret-cao-bang"))
        thanh_hoa = await bearer(client)
        dossier = "/business-registry/v1/enterprise-dossiers/DN-{}-20240603-00000"

        refused = await client.get(dossier.format("004"), headers=cao_bang)
        assert refused.status_code == 403, refused.text
        assert refused.json()["code"] == "sandbox_window_closed"
        assert "cao-bang-tests-only-outside-office-hours" in refused.json()["detail"]
        assert int(refused.headers["retry-after"]) > 0
        assert records[-1].outcome == "sandbox_window_closed"
        assert (
            records[-1].injected_fault == "sandbox_window:cao-bang-tests-only-outside-office-hours"
        )
        assert records[-1].provider == "business-registry"

        other = await client.get(dossier.format("038"), headers=thanh_hoa)
        assert other.status_code != 403
        assert records[-1].injected_fault is None
        citizen = await client.get("/population/v1/citizens/038090000001", headers=cao_bang)
        assert citizen.status_code != 403, citizen.text

        saturday = await client.put(
            "/admin/clock", json={"at": "2024-06-08T09:00:00+07:00"}, headers=admin_headers()
        )
        assert saturday.status_code == 200
        weekend = await client.get(dossier.format("004"), headers=cao_bang)
        assert weekend.status_code != 403, weekend.text

        await client.delete("/admin/scenario", headers=admin_headers())
        await client.put("/admin/clock", json={"at": "2024-06-03T09:00:00+07:00"},
                         headers=admin_headers())  # fmt: skip
        baseline = await client.get(dossier.format("004"), headers=cao_bang)
        assert baseline.status_code != 403, baseline.text
