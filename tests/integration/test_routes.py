"""FM-10's routes on real processes: a province's call direct, via its LGSP, via VDXP (each
hop its own OS process, ``ndxp-sim serve-hop``), and the report placing each failure at the
hop where it arose, by trace id across the hops' logs and the gateway's.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from connectors.client import NdxpClient
from connectors.routes import route_of
from contracts.xroad import client_id, pr_rest_path
from mock_services.failure_modes import cited_rows
from mock_services.scenarios import SCENARIOS_DIR
from ndxp_config.settings import RouteName, RouteSettings
from ndxp_sim.report_output import render_markdown, report_from_gateway
from ndxp_sim.testing import Stack, running_stack

pytestmark = pytest.mark.integration

DAK_LAK, THANH_HOA = "066", "038"
CITIZEN = "038090001234"
TRACE = "0af7651916cd43dd8448eb211c80319c"
SCENARIO = {
    "id": "routes-test",
    "title": "A fault at the LGSP, one at a database",
    "description": "Đắk Lắk's civil-registry calls fail at its LGSP; its population lookups "
    "fail at the population database.",
    "source": ["003 Phụ lục V row 43 (Đắk Lắk)"],
    "rules": [
        {
            "id": "lgsp-civil-registry",
            "failure_mode": "FM-10",
            "source": ["003 Phụ lục V row 43 (Đắk Lắk)"],
            "match": {"provider": "civil-registry", "provinces": [DAK_LAK], "hop": "lgsp"},
            "fault": {"kind": "http_error", "status": 502, "code": "lgsp_route_error"},
        },
        {
            "id": "population-fails",
            "failure_mode": "FM-02",
            "source": ["003 Phụ lục V row 43 (Đắk Lắk)"],
            "match": {"provider": "population", "provinces": [DAK_LAK]},
            "fault": {"kind": "http_error", "status": 500},
        },
    ],
}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("routes")
    scenarios = root / "scenarios"
    scenarios.mkdir()
    shutil.copy(SCENARIOS_DIR / "baseline.yaml", scenarios)
    shutil.copy(SCENARIOS_DIR / "fm-10.yaml", scenarios)
    (scenarios / "routes-test.yaml").write_text(yaml.safe_dump(SCENARIO, allow_unicode=True))
    env = {"NDXP_SCENARIOS_DIR": str(scenarios), "NDXP_VDXP__ERROR_SPELLING": "7.7"}
    with running_stack(root / "state", env) as running:
        yield running


def token(base_url: str, slug: str) -> str:
    answer = httpx.post(
        f"{base_url}/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": f"onestop-{slug}",
            "client_secret": f"dev-secret-{slug}",
        },
    )
    answer.raise_for_status()
    access: str = answer.json()["access_token"]
    return access


def switch(stack: Stack, name: str) -> None:
    answer = httpx.put(
        f"{stack.gateway_url}/admin/scenario",
        json={"name": name},
        headers=stack.admin_headers,
        timeout=30.0,
    )
    assert answer.status_code == 200, answer.text


def hop_log(stack: Stack, url: str, **params: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{url}/_hop/exchanges", params=params, headers=stack.admin_headers)
    assert answer.status_code == 200, answer.text
    found: list[dict[str, Any]] = answer.json()
    return found


async def test_a_call_via_the_lgsp_or_vdxp_returns_what_the_direct_call_returns(
    stack: Stack,
) -> None:
    settings = stack.settings
    secret = "dev-secret-thanh-hoa"
    bodies = {}
    names: tuple[RouteName, ...] = ("direct", "lgsp", "vdxp")
    for name in names:
        routes = RouteSettings(default=name)
        route = route_of(settings.model_copy(update={"routes": routes}), THANH_HOA)
        assert route.name == name
        async with NdxpClient(
            route.base_url, "onestop-thanh-hoa", secret, **route.client_options()
        ) as ndxp:
            bodies[name] = (await ndxp.population.get_citizen(CITIZEN)).model_dump()
    assert bodies["lgsp"] == bodies["direct"]
    assert bodies["vdxp"] == bodies["direct"]
    assert bodies["direct"]["personal_id"] == CITIZEN


@pytest.mark.parametrize("hop", ["lgsp", "vdxp"])
def test_one_trace_id_spans_the_hops_log_and_the_gateways(stack: Stack, hop: str) -> None:
    trace = TRACE[:-4] + ("1111" if hop == "lgsp" else "2222")
    headers = {
        "Authorization": f"Bearer {token(stack.gateway_url, 'thanh-hoa')}",
        "traceparent": f"00-{trace}-b7ad6b7169203331-01",
    }
    if hop == "lgsp":
        url = f"{stack.lgsp_url}/population/v1/citizens/{CITIZEN}"
    else:
        path = pr_rest_path("VN", "population", f"/v1/citizens/{CITIZEN}")
        url = f"{stack.vdxp_url}{path}"
        headers["X-Road-Client"] = client_id("VN", THANH_HOA)
    assert httpx.get(url, headers=headers).status_code == 200

    (record,) = hop_log(stack, getattr(stack, f"{hop}_url"), trace_id=trace)
    gateway = httpx.get(
        f"{stack.gateway_url}/admin/exchanges/{record['gateway_exchange_id']}",
        headers=stack.admin_headers,
    )
    assert gateway.status_code == 200
    assert gateway.json()["trace_id"] == record["trace_id"] == trace
    assert record["exchange_id"] != record["gateway_exchange_id"]  # each hop its own ids


def test_vdxp_answers_xroad_errors_in_the_configured_spelling(stack: Stack) -> None:
    path = pr_rest_path("VN", "population", f"/v1/citizens/{CITIZEN}")
    answer = httpx.get(f"{stack.vdxp_url}{path}")  # no X-Road-Client
    assert answer.status_code == 400
    assert answer.json()["type"] == "Client.MissingHeader"  # 7.7, as the stack's setting says
    assert answer.headers["X-Road-Error"] == "Client.MissingHeader"


def test_a_failure_is_reported_at_the_hop_where_it_arose(stack: Stack) -> None:
    switch(stack, "routes-test")
    try:
        auth = {"Authorization": f"Bearer {token(stack.lgsp_url, 'dak-lak')}"}
        at_lgsp = httpx.get(f"{stack.lgsp_url}/civil-registry/v1/registrations/R-1", headers=auth)
        at_database = httpx.get(f"{stack.lgsp_url}/population/v1/citizens/{CITIZEN}", headers=auth)
        other = {"Authorization": f"Bearer {token(stack.lgsp_url, 'thanh-hoa')}"}
        passed = httpx.get(f"{stack.lgsp_url}/civil-registry/v1/registrations/R-1", headers=other)
    finally:
        switch(stack, "baseline")
    assert (at_lgsp.status_code, at_lgsp.json()["code"]) == (502, "lgsp_route_error")
    assert at_database.status_code == 500
    # Thanh Hóa's call passes the LGSP: the civil registry itself refuses the malformed id.
    assert passed.status_code == 422

    hops = {"lgsp": stack.lgsp_url, "vdxp": stack.vdxp_url}
    # The switch back to baseline ended routes-test's run: read that run by its id.
    runs = httpx.get(f"{stack.gateway_url}/admin/runs", headers=stack.admin_headers).json()
    run_id = next(r["run_id"] for r in runs["items"] if r["scenario"] == "routes-test")
    report = report_from_gateway(stack.gateway_url, stack.admin_token, run_id=run_id, hops=hops)

    where = {(row.hop, row.system): row for row in report.origins}
    lgsp = where["lgsp", "provincial LGSP"]
    assert lgsp.rules == {"lgsp-civil-registry": 1}
    assert lgsp.routes == {"lgsp": 1}
    assert lgsp.provinces == [DAK_LAK]
    database = where["database", "population"]
    assert database.rules == {"population-fails": 1}
    assert database.failures == {"upstream_error": 1}
    assert database.routes == {"lgsp": 1}
    assert set(where) == {("lgsp", "provincial LGSP"), ("database", "population")}
    modes = {row.failure_mode: row for row in report.failure_modes}
    assert modes["FM-10"].citations == ["003 Phụ lục V row 43 (Đắk Lắk)"]
    assert report.hop_logs["lgsp"] >= 3
    assert "## Where the failures arose" in render_markdown(report)


def run_report(stack: Stack, scenario: str) -> Any:
    runs = httpx.get(f"{stack.gateway_url}/admin/runs", headers=stack.admin_headers).json()
    run_id = next(r["run_id"] for r in runs["items"] if r["scenario"] == scenario)
    hops = {"lgsp": stack.lgsp_url, "vdxp": stack.vdxp_url}
    return report_from_gateway(stack.gateway_url, stack.admin_token, run_id=run_id, hops=hops)


def test_fm_10_fails_dak_laks_calls_at_its_lgsp_and_cites_only_the_route_rows(
    stack: Stack,
) -> None:
    switch(stack, "fm-10")
    try:
        statuses: dict[str, list[int]] = {"dak-lak": [], "thanh-hoa": []}
        for slug, calls in statuses.items():
            auth = {"Authorization": f"Bearer {token(stack.lgsp_url, slug)}"}
            for path in ["/civil-registry/v1/registrations/R-1"] * 10 + [
                "/business-registry/v1/enterprises/0100109106"
            ] * 10:
                try:
                    calls.append(httpx.get(f"{stack.lgsp_url}{path}", headers=auth).status_code)
                except httpx.TransportError:
                    calls.append(0)  # the LGSP dropped the connection (rule: interrupted)
    finally:
        switch(stack, "baseline")
    assert any(status in (0, 502) for status in statuses["dak-lak"])
    assert not any(status in (0, 502) for status in statuses["thanh-hoa"])

    report = run_report(stack, "fm-10")
    (fm10,) = [row for row in report.failure_modes if row.failure_mode == "FM-10"]
    assert fm10.failures
    claimed = cited_rows(fm10.citations)
    assert claimed
    assert claimed <= {43, 44, 48, 49}
    # Rows 2, 51, 87 are about the routes' configuration, not faults: named, never claimed.
    assert {2, 51, 87} <= cited_rows([fm10.not_reproduced])
    (origin,) = report.origins  # every failure of the run arose at the LGSP
    assert (origin.hop, origin.provinces) == ("lgsp", [DAK_LAK])
    assert set(origin.rules) <= {
        "lgsp-civil-registry-errors",
        "lgsp-civil-registry-interrupted",
        "lgsp-business-registry-errors",
    }
