"""Background traffic against the real stack: flows complete under baseline and degrade under a
reported failure; the traffic process logs one outcome line per flow and stops on its own."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from collections.abc import Iterator

import httpx
import pytest

from connectors.flows import switch_scenario_for
from connectors.provinces import Mix
from connectors.traffic import run_traffic, traffic_argv
from ndxp_sim.testing import Stack, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("traffic") / "state"
    with running_stack(state, env={"NDXP_MOCKS__LIFECYCLE_MINUTE_S": "0.005"}) as stack:
        yield stack


async def test_a_few_seconds_of_traffic_complete_under_baseline(stack: Stack) -> None:
    summary = await run_traffic(
        stack.settings, 8.0, stop_event=asyncio.Event(), seed=21, max_flows=12
    )
    assert summary.finished == 12
    assert summary.count("completed") == 12, (summary.reasons, stack.logs())
    assert summary.cancelled == 0


async def test_traffic_degrades_under_missing_fields_and_recovers_on_baseline(
    stack: Stack,
) -> None:
    mix = Mix.parse("licence_renewal=1,household_verification=1")
    await switch_scenario_for(stack.settings, "fm-04")
    try:
        summary = await run_traffic(
            stack.settings, 8.0, stop_event=asyncio.Event(), seed=4, max_flows=6, mix=mix
        )
    finally:
        await switch_scenario_for(stack.settings, "baseline")
    assert summary.count("degraded") == 6, summary.reasons
    after = await run_traffic(
        stack.settings, 8.0, stop_event=asyncio.Event(), seed=4, max_flows=4, mix=mix
    )
    assert after.count("completed") == 4, after.reasons


def test_the_traffic_process_logs_each_outcome_and_stops_after_its_duration(
    stack: Stack,
) -> None:
    argv = [*traffic_argv(6.0, seed=3, mix="household_verification"), "--duration", "2"]
    done = subprocess.run(argv, env=stack.env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    outcomes = [line for line in lines if line.get("event") == "flow_outcome"]
    assert outcomes, done.stdout
    assert {line["outcome"] for line in outcomes} == {"completed"}
    assert all(line["flow"] == "household_verification" for line in outcomes)
    assert "Traffic:" in done.stderr
    assert "seed 3" in done.stderr


@pytest.mark.parametrize(
    ("at", "thinned"),
    [("2024-06-04T03:00:00+07:00", True), ("2024-06-04T09:00:00+07:00", False)],
    ids=["night", "morning-peak"],
)
def test_the_business_day_process_follows_the_mocks_fault_clock(
    stack: Stack, at: str, thinned: bool
) -> None:
    """The process reads the simulated hour from the gateway: at 03:00 (a twentieth of the
    peak) most candidate arrivals are left out, at 09:00 (the peak) none."""
    moved = httpx.put(
        f"{stack.gateway_url}/admin/clock",
        json={"at": at},
        headers=stack.admin_headers,
        timeout=30.0,
    )
    assert moved.status_code == 200, moved.text
    argv = [
        *traffic_argv(20.0, seed=5, mix="household_verification", shape="business-day"),
        "--duration",
        "2",
    ]
    env = {**stack.env, "COLUMNS": "200"}  # the summary on one line
    try:
        done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    finally:
        httpx.put(
            f"{stack.gateway_url}/admin/clock", json={"at": None}, headers=stack.admin_headers
        )
    assert done.returncode == 0, done.stderr
    match = re.search(r"business-day, \d+ arrivals shed, (\d+) left out by the hour", done.stderr)
    assert match, done.stderr
    assert (int(match.group(1)) > 0) is thinned, done.stderr
