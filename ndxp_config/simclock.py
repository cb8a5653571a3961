"""The simulated clock (*đồng hồ mô phỏng*): local time in Asia/Ho_Chi_Minh that runs
``1 / time_scale`` times as fast as the wall clock.

``NDXP_TIME_SCALE`` is the simulation's one time scale: it multiplies every injected wait and
every gateway timeout, so simulated time must run at the inverse rate for the two to agree —
at 0.05 a wall second is 20 simulated seconds, a 120 s hang lasts 6 wall seconds, and a
maintenance window's ``Retry-After`` of 600 simulated seconds is sent as 30. The mocks' fault
clock (time-of-day matches, maintenance windows) and the traffic's business-day shape read
this clock. It starts at the wall time (or where :meth:`SimClock.set` puts it: ``PUT
/admin/clock``) and runs on from there; at scale 1 it is the wall clock, shifted.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

VIETNAM_TZ = timezone(timedelta(hours=7), "Asia/Ho_Chi_Minh")  # no daylight saving since 1975
WallClock = Callable[[], datetime]


def _wall() -> datetime:
    return datetime.now(VIETNAM_TZ)


class SimClock:
    """Simulated local time: ``start + (wall - wall at start) / scale``."""

    def __init__(self, scale: float = 1.0, *, wall: WallClock | None = None) -> None:
        if scale <= 0:
            raise ValueError("time_scale must be positive")
        self.scale = scale
        self._wall = wall or _wall
        self._wall_at = self._wall()
        self._sim_at = self._wall_at
        self._shifted = False

    def now(self) -> datetime:
        """The simulated local time now."""
        elapsed = (self._wall() - self._wall_at) / self.scale
        return (self._sim_at + elapsed).astimezone(VIETNAM_TZ)

    def set(self, at: datetime | None) -> None:
        """Read ``at`` now and run on from there (None: the wall time now, unshifted)."""
        self._wall_at = self._wall()
        self._sim_at = self._wall_at if at is None else at
        self._shifted = at is not None

    @property
    def shifted(self) -> bool:
        return self._shifted

    def wall_seconds(self, simulated_s: float) -> float:
        """How long ``simulated_s`` of simulated time lasts on the wall clock."""
        return simulated_s * self.scale


def retry_after(simulated_s: float, scale: float) -> int:
    """A ``Retry-After`` (whole wall seconds) for a wait of ``simulated_s`` simulated seconds.

    Rounded up, so a client that honours it never comes back early; a positive wait never
    becomes 0 (which would invite an immediate retry).
    """
    if simulated_s <= 0:
        return 0
    return max(1, math.ceil(simulated_s * scale - 1e-9))


__all__ = ["VIETNAM_TZ", "SimClock", "WallClock", "retry_after"]
