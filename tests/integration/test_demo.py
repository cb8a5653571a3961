"""The trainer demo against the real stack (``ndxp-sim up``'s processes on real sockets): the
narration names each hop — province, NDXP gateway, national database — the exchange ids and
the admin URLs, waits for Enter between hops with ``--step``, and tells a scenario's failures.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from rich.console import Console

from ndxp_sim.demo import DemoError, run_demo
from ndxp_sim.testing import Stack, running_stack

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state = tmp_path_factory.mktemp("demo") / "state"
    # A civil-registry working day in under five seconds: registrations settle during the demo.
    with running_stack(state, env={"NDXP_MOCKS__LIFECYCLE_MINUTE_S": "0.005"}) as stack:
        yield stack


def recording_console() -> Console:
    return Console(record=True, width=220, color_system=None, force_terminal=False)


async def test_demo_narrates_each_hop_and_ends_with_exchange_ids_and_admin_urls(
    stack: Stack,
) -> None:
    console = recording_console()
    prompts: list[str] = []
    result = await run_demo(
        stack.settings,
        "licence-renewal",
        "thanh-hoa",
        None,
        True,
        console,
        prompts.append,
        seed=5,
    )
    text = console.export_text()
    assert result.outcome == "completed", stack.logs()
    hops = re.findall(r"Hop (\d+)", text)
    assert hops == ["1", "2", "3", "4", "5"]
    for name in (
        "Thanh Hóa one-stop system → NDXP gateway → driver-licence database",
        "Thanh Hóa one-stop system → NDXP gateway → population database",
        f"GET {stack.gateway_url}/driver-licence/v1/renewal-dossiers",
        "quota left",
        "COMPLETED",
    ):
        assert name in text, text
    assert len(prompts) == 4  # Enter between hops, not before the first
    for exchange_id in result.exchange_ids:
        assert exchange_id in text
        assert f"{stack.gateway_url}/admin/exchanges/{exchange_id}" in text
    assert "/admin/exchanges?consumer=onestop-thanh-hoa" in text


async def test_demo_under_a_scenario_tells_what_failed_and_why(stack: Stack) -> None:
    console = recording_console()
    try:
        result = await run_demo(
            stack.settings, "licence_renewal", "Đắk Lắk", "fm-04", False, console, seed=1
        )
    finally:
        await run_demo(
            stack.settings,
            "household_verification",
            "001",
            "baseline",
            False,
            recording_console(),
            seed=1,
        )
    text = console.export_text()
    assert result.outcome == "degraded"
    assert "Scenario fm-04" in text
    assert "Đắk Lắk one-stop system" in text
    assert "missing or broken fields flagged by NDXP" in text
    assert "DEGRADED" in text


async def test_demo_of_a_birth_registration_follows_the_civil_registry_to_a_final_status(
    stack: Stack,
) -> None:
    console = recording_console()
    result = await run_demo(
        stack.settings, "birth_registration", "Thanh Hoa", None, False, console, seed=2
    )
    text = console.export_text()
    assert result.outcome == "completed", result.reason
    assert "civil registry (hệ thống hộ tịch)" in text
    assert f"POST {stack.gateway_url}/civil-registry/v1/birth-registrations" in text
    assert re.search(r"=\s+(processed \(9\)|returned \(10\)|rejected \(3\))", text), text


async def test_demo_refuses_an_unknown_province_or_flow(stack: Stack) -> None:
    with pytest.raises(DemoError, match="Atlantis"):
        await run_demo(
            stack.settings, "business_sync", "Atlantis", None, False, recording_console()
        )
    with pytest.raises(DemoError, match="unknown flow"):
        await run_demo(stack.settings, "teleport", "Huế", None, False, recording_console())


def test_the_demo_command_runs_as_the_readme_says(stack: Stack) -> None:
    """``ndxp-sim demo`` as a trainer types it, Enter pressed at each ``--step`` pause."""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "ndxp_sim", "demo", "household-verification",
         "--province", "Thanh Hóa", "--step", "--seed", "3"],
        env={**stack.env, "COLUMNS": "200"},
        input="\n" * 20,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Thanh Hóa one-stop system → NDXP gateway → population database" in done.stdout
    assert re.findall(r"Hop (\d+)", done.stdout)[:2] == ["1", "2"]
    assert f"{stack.gateway_url}/admin/exchanges/" in done.stdout


def test_the_demo_command_refuses_an_unknown_flow(stack: Stack) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "ndxp_sim", "demo", "no-such-flow"],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "licence-renewal" in done.stdout  # the message lists the flows there are
