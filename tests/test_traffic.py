"""The background traffic runner, in process: Poisson arrivals of seeded flows, bounded in
flight, each run summed up by flow and outcome."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from connectors.flows import FlowResult
from connectors.provinces import Mix
from connectors.traffic import TrafficSummary, run_traffic, traffic_argv
from connectors.traffic_shape import BusinessDay, read_gateway_clock, sync_clock
from ndxp_config.simclock import VIETNAM_TZ, SimClock
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


# -- the business-day shape ------------------------------------------------------------------


class FixedClock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def now(self) -> datetime:
        return self.at


TUESDAY = datetime(2024, 6, 4, tzinfo=VIETNAM_TZ)


@pytest.mark.parametrize(
    ("hour", "share"),
    [(9, 1.0), (12, 0.45), (14, 0.80), (3, 0.05)],  # connectors/day_profile.py's periods
)
def test_the_business_day_keeps_arrivals_with_the_hours_intensity(hour: int, share: float) -> None:
    day = BusinessDay(FixedClock(TUESDAY.replace(hour=hour)))
    assert day.intensity() == share
    rng = random.Random(1)
    kept = sum(day.keep(rng) for _ in range(20_000)) / 20_000
    assert kept == pytest.approx(share, abs=0.015)  # seeded: the same draws every run


def test_the_business_day_reads_the_hour_in_vietnam_time() -> None:
    day = BusinessDay(FixedClock(datetime(2024, 6, 4, 2, 0, tzinfo=UTC)))  # 09:00 in Hà Nội
    assert day.intensity() == 1.0


async def test_traffic_at_night_is_thinned_and_at_the_peak_is_not(sim: Sim) -> None:
    night, _ = await traffic(
        sim, seed=4, max_flows=2, business_day=BusinessDay(FixedClock(TUESDAY.replace(hour=3)))
    )
    assert night.shape == "business-day"
    assert night.started == 2
    assert night.thinned > 0  # about 19 candidates left out for each one kept
    peak, _ = await traffic(
        sim, seed=4, max_flows=2, business_day=BusinessDay(FixedClock(TUESDAY.replace(hour=9)))
    )
    assert (peak.started, peak.thinned) == (2, 0)


async def test_the_traffic_reads_the_mocks_fault_clock_through_the_gateway(sim: Sim) -> None:
    for app in sim.mocks.values():  # what PUT /admin/clock does to each mock
        app.state.fault_engine.set_clock(datetime(2024, 6, 4, 14, 0, tzinfo=VIETNAM_TZ))
    transport = httpx.ASGITransport(app=sim.gateway)
    at = await read_gateway_clock(sim.settings, transport)
    assert at is not None
    assert at.astimezone(VIETNAM_TZ).strftime("%a %H") == "Tue 14"
    clock = SimClock(1.0)
    assert await sync_clock(clock, sim.settings, transport)
    assert clock.shifted
    assert clock.now().astimezone(VIETNAM_TZ).strftime("%a %H") == "Tue 14"


async def test_an_unreachable_gateway_leaves_the_clock_on_wall_time(sim: Sim) -> None:
    refused = sim.settings.model_copy(
        update={
            "gateway": sim.settings.gateway.model_copy(
                update={"admin_token": SecretStr("not-the-token")}
            )
        }
    )
    transport = httpx.ASGITransport(app=sim.gateway)
    assert await read_gateway_clock(refused, transport) is None
    clock = SimClock(1.0)
    assert not await sync_clock(clock, refused, transport)
    assert not clock.shifted


def test_the_traffic_process_command_line_names_its_shape() -> None:
    assert traffic_argv(1.0)[-2:] == ["--rate", "1.0"]
    assert traffic_argv(1.0, shape="business-day")[-2:] == ["--shape", "business-day"]
