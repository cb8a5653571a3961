"""Each locustfile, headless against the real stack, until it has seen what it is run for:
exit code and CSV.

No run has a time window to fit in: each ends, as ``-t`` would end it (verdicts and reports
included), once the request names it is run for have been counted (``--ndxp-until``), so a
loaded machine only makes it longer; ``-t`` only bounds a hang. One stack for the module, with
business registration's timeouts cut to 1 s so the timeout run sees 504s within seconds.
Quotas persist in the stack, so each test uses provinces of its own. Locust runs as a
subprocess (it monkey-patches the standard library on import), from the repository root,
with the stack's ``NDXP_*`` environment.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
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
SLOW_LIST = "GET /business-registry/v1/enterprise-dossiers"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("load")
    env = registry_env(state, SLOW_TIMEOUTS, ["business-registry"])
    with running_stack(state / "stack", env) as running:
        yield running


HANG_S = 240  # -t: only bounds a run whose --ndxp-until never comes
CITIZEN = "GET /population/v1/citizens/{personal_id}"


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    log: Path


def locust(stack: Stack, out: Path, locustfile: str, *args: str, until: Sequence[str]) -> Run:
    """Start a headless Locust run writing ``out/run_*.csv`` and ``out/run.html`` that ends
    once every ``until`` (``NAME`` or ``NAME>=N``) has been counted."""
    out.mkdir(parents=True, exist_ok=True)
    argv = [str(LOCUST), "-f", locustfile, "--headless", "-t", f"{HANG_S}s"]
    argv += [
        "--host",
        stack.gateway_url,
        "--csv",
        str(out / "run"),
        "--html",
        str(out / "run.html"),
        "--json-file",
        str(out / "run"),
    ]
    argv += [f"--ndxp-until={name}" for name in until]
    log = out / "locust.log"
    with log.open("wb") as sink:  # a file, not a pipe: nobody reads while it runs
        process = subprocess.Popen(
            [*argv, *args], cwd=ROOT, env=stack.env, stdout=sink, stderr=subprocess.STDOUT
        )
    return Run(process, log)


def finish(run: Run) -> tuple[int, str]:
    try:
        run.process.wait(timeout=HANG_S + 60)
    finally:
        run.process.kill()
        run.process.wait()
    return run.process.returncode, run.log.read_text(errors="replace")


@dataclass(frozen=True)
class Row:
    requests: int
    failures: int


def stats(out: Path) -> dict[str, Row]:
    """The run's final counts per request name, and ``Aggregated``.

    Read from ``--json-file``, written at shutdown: the CSV is rewritten once a second while
    the run goes, so it can miss the run's last second of requests.
    """
    entries = json.loads((out / "run.json").read_text())
    rows = {e["name"]: Row(e["num_requests"], e["num_failures"]) for e in entries}
    rows["Aggregated"] = Row(
        sum(e["num_requests"] for e in entries), sum(e["num_failures"] for e in entries)
    )
    assert (out / "run_stats.csv").stat().st_size > 0  # the ops artefact is written too
    return rows


def test_provinces_run_every_flow_without_failures(stack: Stack, tmp_path: Path) -> None:
    renewal = "GET /driver-licence/v1/renewal-dossiers/{dossier_id}"
    run = locust(stack, tmp_path, "loadtests/provinces.py", "-u", "8", "-r", "8",
                 "--ndxp-flow-rate", "2", until=[CITIZEN, renewal])  # fmt: skip
    code, output = finish(run)
    assert code == 0, output + stack.logs()
    rows = stats(tmp_path)
    assert rows["Aggregated"].failures == 0, output
    # Dynamic URLs grouped by template: one row per operation, never one per id.
    assert CITIZEN in rows
    assert renewal in rows
    assert not any("/0" in name or "/1" in name for name in rows), list(rows)
    assert (tmp_path / "run.html").stat().st_size > 0


def test_quota_exhaustion_admits_exactly_the_quota_in_distributed_mode(
    stack: Stack, tmp_path: Path
) -> None:
    run = locust(
        stack, tmp_path, "loadtests/quota_exhaustion.py", "-u", "4", "-r", "4",
        "--processes", "2", "--ndxp-provinces", "thanh-hoa,ha-noi", "--ndxp-quota", "20",
        "--ndxp-reset-usage", "--ndxp-rate", "40",
        until=[f"onestop-{p} {CITIZEN} [429]" for p in ("thanh-hoa", "ha-noi")],
    )  # fmt: skip
    code, output = finish(run)
    assert code == 0, output
    assert "quota check passed" in output
    rows = stats(tmp_path)
    for consumer in ("onestop-thanh-hoa", "onestop-ha-noi"):
        name = f"{consumer} {CITIZEN}"
        assert rows[name].requests == 20
        assert rows[f"{name} [429]"].requests > 0
        assert rows[f"{name} [429]"].failures == 0  # every 429 had its headers
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
        "--ndxp-rate", "40",
        until=[f"{consumer} {CITIZEN}>=21"],  # past the 20 it set: only the raise allows that
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
    assert stats(tmp_path)[f"{consumer} {CITIZEN}"].requests > 20


def test_timeouts_answer_504_in_time_and_keep_serving_healthy_providers(
    stack: Stack, tmp_path: Path
) -> None:
    scenario = yaml.safe_load((ROOT / "scenarios/fm-01.yaml").read_text())
    with httpx.Client(headers=stack.admin_headers) as admin:
        url = f"{stack.mock_url('business-registry')}/_faults/scenario"
        admin.put(url, json=scenario).raise_for_status()
        try:
            # The margin is for a loaded machine's scheduling; a gateway that does not time
            # out answers after the slow provider's 3 s median, or never.
            run = locust(stack, tmp_path, "loadtests/timeouts.py", "-u", "6", "-r", "6",
                         "--ndxp-provinces", "hai-phong", "--ndxp-timeout-margin", "2.5",
                         until=[f"{SLOW_LIST} [504 upstream_timeout]", CITIZEN])  # fmt: skip
            code, output = finish(run)
        finally:
            admin.delete(url).raise_for_status()
    assert code == 0, output
    assert "timeout check passed" in output
    rows = stats(tmp_path)
    assert rows[f"{SLOW_LIST} [504 upstream_timeout]"].requests > 0
    assert rows[CITIZEN].requests > 0
    assert rows[CITIZEN].failures == 0


def test_timeouts_fail_the_run_when_nothing_is_slow(stack: Stack, tmp_path: Path) -> None:
    run = locust(stack, tmp_path, "loadtests/timeouts.py", "-u", "2", "-r", "2",
                 "--ndxp-provinces", "da-nang", until=[SLOW_LIST, CITIZEN])  # fmt: skip
    code, output = finish(run)
    assert code == 1, output
    assert "no 504 upstream_timeout seen" in output
