"""One time scale: the simulated clock runs ``1 / NDXP_TIME_SCALE`` times as fast as the wall
clock, and every ``Retry-After`` a fault sends is simulated seconds times the scale, so a
client that honours it comes back when the simulated wait is over (a maintenance window's
end, a peak hour's). Wall time is a fake clock; nothing sleeps."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from mock_services import population
from mock_services.faults import FaultEngine, install_fault_engine
from mock_services.scenarios import parse_scenario
from ndxp_config.settings import Settings
from ndxp_config.simclock import VIETNAM_TZ, SimClock, retry_after

TUESDAY_1100 = datetime(2024, 6, 4, 11, 0, tzinfo=VIETNAM_TZ)
CITIZEN = f"/v1/citizens/{population.sample_ids(2024, '038', 1)[0]}"


class Wall:
    def __init__(self, now: datetime = TUESDAY_1100) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def test_simulated_time_runs_at_the_inverse_of_the_scale() -> None:
    wall = Wall()
    clock = SimClock(0.05, wall=wall)
    wall.now += timedelta(seconds=3)
    assert clock.now() == TUESDAY_1100 + timedelta(seconds=60)
    assert not clock.shifted
    clock.set(datetime(2024, 6, 3, 8, 0, tzinfo=VIETNAM_TZ))
    wall.now += timedelta(seconds=90)  # 30 simulated minutes
    assert clock.now() == datetime(2024, 6, 3, 8, 30, tzinfo=VIETNAM_TZ)
    assert clock.shifted
    clock.set(None)
    assert clock.now() == wall.now
    with pytest.raises(ValueError, match="time_scale"):
        SimClock(0)


@pytest.mark.parametrize(
    ("simulated_s", "scale", "expected"),
    [(30, 0.05, 2), (600, 0.05, 30), (5, 1.0, 5), (0.4, 1.0, 1), (5, 0.02, 1), (0, 0.05, 0)],
)
def test_retry_after_is_whole_wall_seconds_rounded_up(
    simulated_s: float, scale: float, expected: int
) -> None:
    assert retry_after(simulated_s, scale) == expected


def _scenario(fault: dict[str, Any], **match: Any) -> Any:
    return parse_scenario(
        {
            "id": "test",
            "title": "Test",
            "description": "Rules under test.",
            "source": ["tests"],
            "rules": [{"id": "r", "match": {"provider": "population", **match}, "fault": fault}],
        }
    )


async def _get(
    settings: Settings,
    client_for: Callable[[FastAPI], httpx.AsyncClient],
    engine: FaultEngine,
) -> httpx.Response:
    app = population.create_app(settings)
    install_fault_engine(app, engine)
    async with client_for(app) as client:
        return await client.get(CITIZEN)


MAINTENANCE = {
    "kind": "maintenance",
    "windows": [{"days": ["tue"], "start": "08:00", "end": "11:30"}],
}


@pytest.mark.parametrize(
    ("fault", "scale", "expected"),
    [
        pytest.param(MAINTENANCE, 1.0, "1800", id="maintenance-scale-1"),
        pytest.param(MAINTENANCE, 0.05, "90", id="maintenance-to-the-window-end"),
        pytest.param({"kind": "unavailable", "retry_after_s": 30}, 0.05, "2", id="unavailable"),
        pytest.param({"kind": "unavailable", "retry_after_s": 30}, 1.0, "30", id="unscaled"),
    ],
)
async def test_retry_after_is_scaled_like_every_wait(
    fault: dict[str, Any],
    scale: float,
    expected: str,
    settings: Settings,
    client_for: Callable[[FastAPI], httpx.AsyncClient],
) -> None:
    wall = Wall()
    engine = FaultEngine(
        "population", _scenario(fault), clock=wall, sleep=wall.sleep, time_scale=scale
    )
    response = await _get(settings, client_for, engine)
    assert response.status_code == 503
    assert response.headers["retry-after"] == expected


async def test_a_window_read_on_the_simulated_clock_ends_after_its_scaled_wall_time(
    settings: Settings, client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> None:
    """At 0.05, the 30 simulated minutes left of a maintenance window last 90 wall seconds:
    the Retry-After the mock sent; a client honouring it finds the database back."""
    wall = Wall()
    engine = FaultEngine(
        "population", _scenario(MAINTENANCE), clock=wall, sleep=wall.sleep, time_scale=0.05
    )
    during = await _get(settings, client_for, engine)
    assert during.status_code == 503
    wall.now += timedelta(seconds=int(during.headers["retry-after"]) - 1)
    assert (await _get(settings, client_for, engine)).status_code == 503
    wall.now += timedelta(seconds=1)
    assert (await _get(settings, client_for, engine)).status_code == 200


async def test_a_time_of_day_match_reads_the_simulated_clock(
    settings: Settings, client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> None:
    peak = _scenario(
        {"kind": "http_error", "status": 503, "code": "peak"},
        during=[{"days": ["tue"], "start": "10:00", "end": "11:30"}],
    )
    wall = Wall(TUESDAY_1100.replace(hour=9, minute=59))
    engine = FaultEngine("population", peak, clock=wall, sleep=wall.sleep, time_scale=0.05)
    assert (await _get(settings, client_for, engine)).status_code == 200  # 09:59
    wall.now += timedelta(seconds=3)  # one simulated minute: 10:00
    assert (await _get(settings, client_for, engine)).status_code == 503
