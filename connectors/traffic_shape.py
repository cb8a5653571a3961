"""Arrival shapes of the background traffic (*hình dạng lưu lượng*): ``flat`` — a Poisson
process at ``rate`` flows a second, day and night — or ``business-day`` — the one-stop desks'
day (:class:`~connectors.day_profile.DayProfile`) in simulated time.

``business-day`` is a non-homogeneous Poisson process by thinning (Lewis and Shedler): the
runner draws candidate arrivals at ``rate`` — the rate of the morning peak — and keeps each
with probability ``intensity(now) / peak``, where ``now`` is the simulated local time
(Asia/Ho_Chi_Minh). So at 09:00 the traffic runs at ``rate``, at 12:00 at 0.45 of it, at
03:00 at 0.05; at ``NDXP_TIME_SCALE=0.05`` the simulated day passes 20 times as fast and so do
the peaks.

The simulated time is the mocks' fault clock (what their time-of-day rules read, e.g.
``reported-2024``'s peak-hour congestion): :func:`follow_gateway_clock` reads it from the
gateway's ``GET /admin/scenario`` (admin token from the settings) at the start and every
:data:`RESYNC_S` seconds, so ``PUT /admin/clock`` moves the traffic's day too; when it
cannot be read the clock runs from the wall time at the settings' scale.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal, Protocol, get_args

import httpx

from connectors.day_profile import DayProfile
from ndxp_config.settings import Settings
from ndxp_config.simclock import VIETNAM_TZ, SimClock

TrafficShape = Literal["flat", "business-day"]
SHAPES: tuple[TrafficShape, ...] = get_args(TrafficShape)
RESYNC_S = 30.0


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class BusinessDay:
    """Keeps a candidate arrival with the day's relative intensity at the simulated time."""

    clock: Clock
    profile: DayProfile = field(default_factory=DayProfile)

    def intensity(self) -> float:
        """The share of the peak rate the traffic runs at now."""
        local = self.clock.now().astimezone(VIETNAM_TZ)
        second = local.hour * 3600 + local.minute * 60 + local.second
        return self.profile.intensity(second) / self.profile.peak()

    def keep(self, rng: random.Random) -> bool:
        return rng.random() < self.intensity()


async def read_gateway_clock(
    settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> datetime | None:
    """The mocks' fault clock as the gateway reports it, or None if it cannot be read."""
    token = settings.gateway.admin_token.get_secret_value()
    try:
        async with httpx.AsyncClient(
            base_url=settings.gateway.url, transport=transport, timeout=5.0
        ) as client:
            response = await client.get(
                "/admin/scenario", headers={"Authorization": f"Bearer {token}"}
            )
        response.raise_for_status()
        clocks = [p.get("clock") for p in response.json().get("providers", {}).values()]
        return next(datetime.fromisoformat(c) for c in clocks if c)
    except (httpx.HTTPError, ValueError, StopIteration, AttributeError):
        return None


async def sync_clock(
    clock: SimClock, settings: Settings, transport: httpx.AsyncBaseTransport | None = None
) -> bool:
    """Set ``clock`` to the mocks' fault clock; False (clock untouched) if it cannot be read."""
    at = await read_gateway_clock(settings, transport)
    if at is not None:
        clock.set(at)
    return at is not None


async def follow_gateway_clock(
    clock: SimClock,
    settings: Settings,
    stop_event: asyncio.Event,
    transport: httpx.AsyncBaseTransport | None = None,
    every_s: float = RESYNC_S,
) -> None:
    """Set ``clock`` to the mocks' fault clock now and every ``every_s`` until stopped."""
    while not stop_event.is_set():
        await sync_clock(clock, settings, transport)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop_event.wait(), every_s)


__all__ = [
    "RESYNC_S",
    "SHAPES",
    "BusinessDay",
    "TrafficShape",
    "follow_gateway_clock",
    "read_gateway_clock",
    "sync_clock",
]
