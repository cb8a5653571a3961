"""A real Prometheus (the Debian ``prometheus`` package) scraping a real gateway.

The committed scrape config is rendered for the test's gateway port by ``ndxp_sim.observe``
(what ``ndxp-sim up --observe`` does) and started on a free loopback port. ``promtool`` checks
the config and the gateway's exposition; then, after traffic that produces every kind of
outcome the dashboard shows (admitted exchanges, a spent quota, timeouts, contract
violations), every PromQL expression of the Grafana dashboard must return data.

Prometheus missing is a failure, not a skip: CI installs it (``.ci/run``).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from tenacity import RetryError, retry, retry_if_result, stop_after_delay, wait_fixed

from gateway.registry import Timeouts
from mock_services.population import sample_ids
from ndxp_sim import observe
from ndxp_sim.supervisor import Service, stop
from ndxp_sim.testing import Stack, free_ports, registry_env, running_stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy/grafana/dashboards/ndxp.json"
RATE_INTERVAL = "1m"  # what Grafana's $__rate_interval becomes at a 1 s scrape interval
SLOW = Timeouts(connect_s=1.0, read_s=0.5, total_s=1.0)
CONSUMERS = (("onestop-thanh-hoa", "dev-secret-thanh-hoa"), ("onestop-ha-noi", "dev-secret-ha-noi"))


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None or observe.find_prometheus() is None:
        pytest.fail(
            "prometheus/promtool not installed: `sudo apt-get install -y prometheus` "
            "(.ci/run installs it); this test does not skip"
        )
    return found


def dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [
        target["expr"].replace("$__rate_interval", RATE_INTERVAL)
        for panel in dashboard["panels"]
        for target in panel["targets"]
    ]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("prometheus")
    env = registry_env(state, SLOW, ["business-registry"])
    with running_stack(state / "stack", env) as running:
        yield running


@pytest.fixture(scope="module")
def prometheus(stack: Stack) -> Iterator[Service]:
    promtool()
    (port,) = free_ports(1)
    service = observe.start_prometheus(
        stack.settings, port=port, scrape_interval="1s", env=stack.env
    )
    try:
        yield service
    finally:
        stop([service])


def query(prometheus: Service, expr: str) -> list[Any]:
    response = httpx.get(f"{prometheus.url}/api/v1/query", params={"query": expr}, timeout=5)
    body = response.json()
    assert body["status"] == "success", (expr, body)
    result: list[Any] = body["data"]["result"]
    return result


def drive_traffic(stack: Stack) -> None:
    """Admitted lookups with contract violations, a spent quota, and timeouts."""
    seed = stack.settings.mocks.seed
    with httpx.Client(headers=stack.admin_headers, timeout=10) as admin:
        for mock, scenario in (("population", "fm-04"), ("business-registry", "fm-01")):
            data = yaml.safe_load((ROOT / f"scenarios/{scenario}.yaml").read_text())
            admin.put(f"{stack.mock_url(mock)}/_faults/scenario", json=data).raise_for_status()
        admin.put(
            f"{stack.gateway_url}/admin/quotas/onestop-ha-noi/population.get_citizen",
            json={"limit": 3},
        ).raise_for_status()
    with httpx.Client(base_url=stack.gateway_url, timeout=10) as client:
        for client_id, secret in CONSUMERS:
            token = client.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": client_id,
                    "client_secret": secret,
                },
            ).json()["access_token"]
            auth = {"Authorization": f"Bearer {token}"}
            province = "038" if client_id.endswith("thanh-hoa") else "001"
            statuses = [
                client.get(f"/population/v1/citizens/{pid}", headers=auth).status_code
                for pid in sample_ids(seed, province, 5)
            ]
            if client_id.endswith("ha-noi"):
                assert statuses.count(429) == 2, statuses
            window = {"from": "2024-06-03T00:00:00+07:00", "to": "2024-06-04T00:00:00+07:00"}
            for _ in range(2):
                response = client.get(
                    "/business-registry/v1/enterprise-dossiers", params=window, headers=auth
                )
                assert response.status_code in (200, 504), response.text


def test_promtool_accepts_the_committed_and_the_rendered_config(
    stack: Stack, tmp_path: Path
) -> None:
    tool = promtool()
    rendered = tmp_path / "prometheus.yml"
    rendered.write_text(observe.render_config(stack.settings, port=9999))
    for config in (observe.COMMITTED_CONFIG, rendered):
        result = subprocess.run(
            [tool, "check", "config", str(config)], capture_output=True, text=True, check=False
        )
        assert result.returncode == 0, result.stdout + result.stderr
    targets = yaml.safe_load(rendered.read_text())["scrape_configs"][0]["static_configs"]
    assert targets == [{"targets": [f"127.0.0.1:{stack.settings.gateway.port}"]}]


def test_every_dashboard_query_returns_data_from_a_real_prometheus(
    stack: Stack, prometheus: Service
) -> None:
    @retry(
        retry=retry_if_result(lambda up: not up), stop=stop_after_delay(30), wait=wait_fixed(0.2)
    )
    def gateway_target_up() -> bool:
        targets = httpx.get(f"{prometheus.url}/api/v1/targets", timeout=5).json()
        return any(
            t["labels"]["job"] == observe.GATEWAY_JOB and t["health"] == "up"
            for t in targets["data"]["activeTargets"]
        )

    gateway_target_up()
    drive_traffic(stack)

    exposition = httpx.get(f"{stack.gateway_url}/metrics").text
    checked = subprocess.run(
        [promtool(), "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

    queries = dashboard_queries()
    assert len(queries) >= 10
    empty: list[str] = []

    # rate() needs two scrapes of a series after it appeared: wait for Prometheus, bounded.
    @retry(retry=retry_if_result(bool), stop=stop_after_delay(30), wait=wait_fixed(0.5))
    def empty_queries() -> list[str]:
        empty[:] = [expr for expr in queries if not query(prometheus, expr)]
        return empty

    try:
        empty_queries()
    except RetryError:
        pytest.fail(f"dashboard queries with no data: {empty}\n{stack.logs()}")
