"""One time scale for the whole simulation: under ``NDXP_TIME_SCALE=0.05`` (the documented demo
setting) with the shipped registry's timeouts, ``fm-01`` still shows FM-01's timeouts through
the real gateway — the 120 s hang lasts 6 s and the 30 s read timeout 1.5 s, so the hang still
outlasts the gateway. Real processes on real sockets."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from ndxp_sim.report_output import report_from_gateway
from ndxp_sim.testing import Stack, running_stack

pytestmark = pytest.mark.integration

LISTS = ("enterprise", "household-business", "cooperative")
QUERY = {"from": "2024-06-02T17:00:00Z", "to": "2024-06-03T17:00:00Z", "province": "038"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("time-scale")
    env = {"NDXP_TIME_SCALE": "0.05", "NDXP_MOCKS__SEED": "2024"}
    with running_stack(root / "state", env) as running:
        yield running


def test_a_demo_at_0_05_still_shows_fm_01_timeouts(stack: Stack) -> None:
    registry = httpx.get(f"{stack.gateway_url}/admin/registry", headers=stack.admin_headers)
    assert registry.status_code == 200, registry.text
    for provider in registry.json()["providers"]:  # the shipped 5 / 30 / 35 s, x 0.05
        assert provider["timeouts"] == {"connect_s": 0.25, "read_s": 1.5, "total_s": 1.75}
    switched = httpx.put(
        f"{stack.gateway_url}/admin/scenario",
        json={"name": "fm-01"},
        headers=stack.admin_headers,
        timeout=30.0,
    )
    assert switched.status_code == 200, switched.text
    with httpx.Client(base_url=stack.gateway_url, timeout=30.0) as province:
        token = province.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "onestop-thanh-hoa",
                "client_secret": "dev-secret-thanh-hoa",
            },
        )
        province.headers["Authorization"] = f"Bearer {token.json()['access_token']}"
        statuses = [
            province.get(f"/business-registry/v1/{kind}-dossiers", params=QUERY).status_code
            for _ in range(20)  # seeded: about one in ten lists hangs or runs past 30 s
            for kind in LISTS
        ]
    assert 504 in statuses  # a hang outlasts the scaled read timeout
    assert 200 in statuses  # a scaled median latency does not
    report = report_from_gateway(stack.gateway_url, stack.admin_token, run_id="latest")
    (fm01,) = report.failure_modes
    assert fm01.failure_mode == "FM-01"
    assert fm01.failures.get("upstream_timeout", 0) > 0
    assert fm01.citations  # rows of the rules that fired, nothing else
