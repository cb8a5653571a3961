"""The business day (*ngày làm việc*): how intensely the one-stop systems call NDXP at each
moment of the local day, as relative intensities, piecewise constant.

The shape is ours, from how one-stop desks work: a morning peak 07:30–11:00 (offices open,
citizens queue), a lunch dip, an afternoon peak 13:30–16:30, and a thin night of batch syncs.
The load tests play it compressed (:mod:`loadtests.shapes`); ``ndxp-sim up --traffic
--traffic-shape business-day`` follows it in simulated time (:mod:`connectors.traffic_shape`).
"""

from __future__ import annotations

from dataclasses import dataclass

DAY_S = 86_400


def clock_s(clock: str) -> int:
    """``"07:30"`` → 27,000 seconds after local midnight."""
    hours, minutes = clock.split(":")
    return int(hours) * 3600 + int(minutes) * 60


# (start of the period, local time; relative intensity until the next period)
DEFAULT_PERIODS: tuple[tuple[str, float], ...] = (
    ("00:00", 0.05),  # night: scheduled dossier syncs only
    ("06:00", 0.30),  # early desks, LGSP catch-up
    ("07:30", 1.00),  # morning peak
    ("11:00", 0.45),  # lunch
    ("13:30", 0.80),  # afternoon peak
    ("16:30", 0.40),  # closing
    ("18:00", 0.15),  # evening: online submissions
    ("22:00", 0.05),
)


@dataclass(frozen=True)
class DayProfile:
    """Relative intensity of traffic over a local day, piecewise constant."""

    periods: tuple[tuple[str, float], ...] = DEFAULT_PERIODS

    def __post_init__(self) -> None:
        starts = [clock_s(start) for start, _ in self.periods]
        if not starts or starts[0] != 0 or starts != sorted(set(starts)) or starts[-1] >= DAY_S:
            raise ValueError("periods must start at 00:00 and be in increasing order within a day")
        if any(weight < 0 for _, weight in self.periods):
            raise ValueError("intensities must be >= 0")
        if self.peak() <= 0:
            raise ValueError("at least one period needs an intensity > 0")

    def intensity(self, second_of_day: float) -> float:
        """The relative intensity at a second of the local day."""
        second = second_of_day % DAY_S
        current = self.periods[0][1]
        for start, weight in self.periods:
            if clock_s(start) <= second:
                current = weight
        return current

    def peak(self) -> float:
        """The highest intensity of the day."""
        return max(weight for _, weight in self.periods)

    def area(self) -> float:
        """Integral of the intensity over the day, in intensity × seconds."""
        bounds = [clock_s(start) for start, _ in self.periods] + [DAY_S]
        return sum(
            weight * (bounds[i + 1] - bounds[i]) for i, (_, weight) in enumerate(self.periods)
        )

    def rate(self, second_of_day: float, exchanges_per_day: float) -> float:
        """Exchanges per second at that moment of a day that carries ``exchanges_per_day``."""
        return exchanges_per_day * self.intensity(second_of_day) / self.area()


__all__ = ["DAY_S", "DEFAULT_PERIODS", "DayProfile", "clock_s"]
