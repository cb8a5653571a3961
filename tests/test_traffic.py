"""The background traffic runner, in process: Poisson arrivals of seeded flows, bounded in
flight, each run summed up by flow and outcome."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from connectors.flows import FlowResult
from connectors.provinces import Mix
from connectors.traffic import TrafficSummary, run_traffic, traffic_argv
from tests.test_flows import Sim, in_process_stack, no_wait


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    async with in_process_stack(tmp_path / "state") as running:
        yield running


async def traffic(sim: Sim, **kwargs: object) -> tuple[TrafficSummary, list[FlowResult]]:
    seen: list[FlowResult] = []
    summary = await run_traffic(
        sim.settings,
        200.0,
        stop_event=asyncio.Event(),
        transport=httpx.ASGITransport(app=sim.gateway),
        options=sim.options,
        on_result=seen.append,
        client_options={"sleep": no_wait},
        **kwargs,  # type: ignore[arg-type]
    )
    return summary, seen


async def test_traffic_runs_every_flow_to_completion_under_baseline(sim: Sim) -> None:
    summary, seen = await traffic(sim, seed=11, max_flows=12)
    assert summary.started == summary.finished == len(seen) == 12
    assert summary.count("completed") == 12, summary.reasons
    assert len({r.province for r in seen}) > 1
    assert summary.exchanges == sum(len(r.exchange_ids) for r in seen) > 12


async def test_the_same_seed_gives_the_same_runs(sim: Sim) -> None:
    _, first = await traffic(sim, seed=5, max_flows=6, mix=Mix.parse("household_verification"))
    _, second = await traffic(sim, seed=5, max_flows=6, mix=Mix.parse("household_verification"))
    assert sorted(r.reason for r in first) == sorted(r.reason for r in second)


async def test_traffic_under_fm_04_is_degraded_not_failed(sim: Sim) -> None:
    sim.scenario("fm-04")
    mix = Mix.parse("licence_renewal=1,household_verification=1")
    summary, _ = await traffic(sim, seed=3, max_flows=8, mix=mix)
    assert summary.count("degraded") == 8
    assert any("contract violation" in reason for reason in summary.reasons)


async def test_arrivals_beyond_the_in_flight_bound_are_shed_not_queued(sim: Sim) -> None:
    summary, _ = await traffic(
        sim, seed=2, max_flows=4, max_in_flight=1, mix=Mix.parse("business_sync")
    )
    assert summary.started == 4
    assert summary.shed > 0


async def test_a_stopped_runner_returns_at_once_with_nothing_started(sim: Sim) -> None:
    stop = asyncio.Event()
    stop.set()
    summary = await run_traffic(sim.settings, 1.0, stop_event=stop, seed=1)
    assert (summary.started, summary.finished) == (0, 0)


async def test_the_rate_must_be_positive(sim: Sim) -> None:
    with pytest.raises(ValueError, match="rate"):
        await run_traffic(sim.settings, 0, stop_event=asyncio.Event())


def test_the_traffic_process_command_line() -> None:
    argv = traffic_argv(2.5, seed=7, mix="business_sync=1")
    assert argv[1:3] == ["-m", "connectors.traffic"]
    assert argv[3:] == ["--rate", "2.5", "--seed", "7", "--mix", "business_sync=1"]
