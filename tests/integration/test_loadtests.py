"""Each locustfile, headless for a few seconds against the real stack: exit code and CSV.

One stack for the module, with business registration's timeouts cut to 1 s so the timeout
run sees 504s within seconds. Quotas persist in the stack, so each test uses provinces of its
own. Locust runs as a subprocess (it monkey-patches the standard
library on import), from the repository root, with the stack's ``NDXP_*`` environment.
"""

from __future__ import annotations

import csv
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml
from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

from gateway.registry import Timeouts
from ndxp_sim.testing import Stack, registry_env, running_stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
LOCUST = Path(sys.executable).with_name("locust")
SLOW_TIMEOUTS = Timeouts(connect_s=1.0, read_s=1.0, total_s=1.5)
SERVICE = "population.get_citizen"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("load")
    env = registry_env(state, SLOW_TIMEOUTS, ["business-registry"])
    with running_stack(state / "stack", env) as running:
        yield running


def locust(
    stack: Stack, out: Path, locustfile: str, *args: str, seconds: int = 4
) -> subprocess.Popen[str]:
    """Start a headless Locust run writing ``out/run_*.csv`` and ``out/run.html``."""
    out.mkdir(parents=True, exist_ok=True)
    argv = [str(LOCUST), "-f", locustfile, "--headless", "-t", f"{seconds}s"]
    argv += [
        "--host",
        stack.gateway_url,
        "--csv",
        str(out / "run"),
        "--html",
        str(out / "run.html"),
    ]
    return subprocess.Popen(
        [*argv, *args],
        cwd=ROOT,
        env=stack.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def finish(run: subprocess.Popen[str]) -> tuple[int, str]:
    output, _ = run.communicate(timeout=120)
    return run.returncode, output


def stats(out: Path) -> dict[str, dict[str, str]]:
    with (out / "run_stats.csv").open(newline="") as f:
        return {row["Name"]: row for row in csv.DictReader(f)}


def test_provinces_run_every_flow_without_failures(stack: Stack, tmp_path: Path) -> None:
    run = locust(stack, tmp_path, "loadtests/provinces.py", "-u", "8", "-r", "8",
                 "--ndxp-flow-rate", "2")  # fmt: skip
    code, output = finish(run)
    assert code == 0, output + stack.logs()
    rows = stats(tmp_path)
    assert int(rows["Aggregated"]["Failure Count"]) == 0, output
    # Dynamic URLs grouped by template: one row per operation, never one per id.
    assert "GET /population/v1/citizens/{personal_id}" in rows
    assert "GET /driver-licence/v1/renewal-dossiers/{dossier_id}" in rows
    assert not any("/0" in name or "/1" in name for name in rows), list(rows)
    assert (tmp_path / "run.html").stat().st_size > 0


def test_quota_exhaustion_admits_exactly_the_quota_in_distributed_mode(
    stack: Stack, tmp_path: Path
) -> None:
    run = locust(
        stack, tmp_path, "loadtests/quota_exhaustion.py", "-u", "4", "-r", "4",
        "--processes", "2", "--ndxp-provinces", "thanh-hoa,ha-noi", "--ndxp-quota", "20",
        "--ndxp-reset-usage", "--ndxp-rate", "40",
    )  # fmt: skip
    code, output = finish(run)
    assert code == 0, output
    assert "quota check passed" in output
    rows = stats(tmp_path)
    for consumer in ("onestop-thanh-hoa", "onestop-ha-noi"):
        name = f"{consumer} GET /population/v1/citizens/{{personal_id}}"
        assert rows[name]["Request Count"] == "20"
        assert int(rows[f"{name} [429]"]["Request Count"]) > 0
        assert rows[f"{name} [429]"]["Failure Count"] == "0"  # every 429 had its headers
    # The run put back the overrides it set: the provinces are not cut off for the day.
    with httpx.Client(base_url=stack.gateway_url, headers=stack.admin_headers) as admin:
        for consumer in ("onestop-thanh-hoa", "onestop-ha-noi"):
            items = admin.get("/admin/quotas", params={"consumer": consumer}).json()["items"]
            assert next(i for i in items if i["service"] == SERVICE)["override"] is None


def test_quota_exhaustion_fails_the_run_when_the_gateway_over_admits(
    stack: Stack, tmp_path: Path
) -> None:
    """Over-admission on purpose: once the run has set Nghệ An's quota to 20 and started
    spending it, an operator raises it to 60 behind the run's back. The gateway then admits
    more than the quota the run set — exactly what an over-admitting gateway looks like from
    the run's side — and Locust must exit non-zero."""
    consumer = "onestop-nghe-an"
    run = locust(
        stack, tmp_path, "loadtests/quota_exhaustion.py", "-u", "4", "-r", "4",
        "--ndxp-provinces", "nghe-an", "--ndxp-quota", "20", "--ndxp-reset-usage",
        "--ndxp-rate", "40", seconds=5,
    )  # fmt: skip
    with httpx.Client(base_url=stack.gateway_url, headers=stack.admin_headers) as admin:

        @retry(
            retry=retry_if_result(lambda started: not started),
            stop=stop_after_delay(30),
            wait=wait_fixed(0.05),
        )
        def spending() -> bool:
            """The run has set its quota (20) and admitted at least one lookup."""
            items = admin.get("/admin/quotas", params={"consumer": consumer}).json()["items"]
            entry = next(i for i in items if i["service"] == SERVICE)
            return bool(entry["override"] == 20 and entry["used"] >= 1)

        spending()
        admin.put(f"/admin/quotas/{consumer}/{SERVICE}", json={"limit": 60}).raise_for_status()
    code, output = finish(run)
    assert code == 1, output
    assert "over- or under-admission" in output
    assert int(stats(tmp_path)[f"{consumer} GET /population/v1/citizens/{{personal_id}}"][
        "Request Count"]) > 20  # fmt: skip


def test_timeouts_answer_504_in_time_and_keep_serving_healthy_providers(
    stack: Stack, tmp_path: Path
) -> None:
    scenario = yaml.safe_load((ROOT / "scenarios/fm-01.yaml").read_text())
    with httpx.Client(headers=stack.admin_headers) as admin:
        url = f"{stack.mock_url('business-registry')}/_faults/scenario"
        admin.put(url, json=scenario).raise_for_status()
        try:
            run = locust(stack, tmp_path, "loadtests/timeouts.py", "-u", "6", "-r", "6",
                         "--ndxp-provinces", "hai-phong")  # fmt: skip
            code, output = finish(run)
        finally:
            admin.delete(url).raise_for_status()
    assert code == 0, output
    assert "timeout check passed" in output
    rows = stats(tmp_path)
    assert int(rows["GET /business-registry/v1/enterprise-dossiers [504 upstream_timeout]"][
        "Request Count"]) > 0  # fmt: skip
    healthy = rows["GET /population/v1/citizens/{personal_id}"]
    assert int(healthy["Request Count"]) > 0
    assert healthy["Failure Count"] == "0"


def test_timeouts_fail_the_run_when_nothing_is_slow(stack: Stack, tmp_path: Path) -> None:
    run = locust(stack, tmp_path, "loadtests/timeouts.py", "-u", "2", "-r", "2",
                 "--ndxp-provinces", "da-nang", seconds=2)  # fmt: skip
    code, output = finish(run)
    assert code == 1, output
    assert "no 504 upstream_timeout seen" in output
