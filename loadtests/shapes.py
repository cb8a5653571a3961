"""Load shapes as plain arithmetic: the business day compressed, and steps to saturation.

Kept free of Locust on purpose: importing ``locust`` monkey-patches the standard library
(gevent), so the unit tests import this module and never Locust. The Locust classes that use
these plans are thin, in ``business_day.py`` and ``step.py``.

Scale reference: NDXP carried about **2.8 million exchanges a day** in 2024 (REPORTS.md,
"Scale"); ``scale=1.0`` replays that national volume, ``0.01`` one per cent of it. The shape of
the day (:class:`~connectors.day_profile.DayProfile`, shared with ``up --traffic-shape
business-day``) is ours, from how one-stop desks work.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import time

from connectors.day_profile import DAY_S as DAY_S
from connectors.day_profile import DEFAULT_PERIODS as DEFAULT_PERIODS
from connectors.day_profile import DayProfile as DayProfile

NDXP_EXCHANGES_PER_DAY = 2_800_000

# Requests one flow of provinces.py makes, on average over the default mix, tokens included:
# measured with the step shape against a healthy stack (about 1.06 req/s per user at 0.25
# flows/s, steady from 20 to 180 users). Users pace themselves in flows per second, so this
# turns a target in exchanges per second into a number of users.
MEAN_EXCHANGES_PER_FLOW = 4.25


@dataclass(frozen=True)
class CompressedDay:
    """A local-time window of the business day played in ``duration_s`` of wall time.

    The compression shortens the day, not the load: at wall second ``t`` the shape asks for
    the rate of the matching local moment (times ``scale``), so the peak hits the gateway as
    hard as the real peak would, only sooner.
    """

    duration_s: float = 600.0
    start: time = time(6, 0)
    end: time = time(18, 0)
    scale: float = 1.0
    exchanges_per_day: float = NDXP_EXCHANGES_PER_DAY
    profile: DayProfile = field(default_factory=DayProfile)

    def __post_init__(self) -> None:
        if self.duration_s <= 0 or self.scale <= 0:
            raise ValueError("duration_s and scale must be > 0")
        if self._end_s() <= self._start_s():
            raise ValueError("the window must end after it starts (same day)")

    def _start_s(self) -> int:
        return self.start.hour * 3600 + self.start.minute * 60

    def _end_s(self) -> int:
        return self.end.hour * 3600 + self.end.minute * 60 or DAY_S

    def local_second(self, run_s: float) -> float:
        """The second of the local day that wall second ``run_s`` of the run stands for."""
        span = self._end_s() - self._start_s()
        return self._start_s() + span * min(max(run_s, 0.0), self.duration_s) / self.duration_s

    def target_rate(self, run_s: float) -> float:
        """Exchanges per second the gateway should see at wall second ``run_s``."""
        second = self.local_second(run_s)
        return self.scale * self.profile.rate(second, self.exchanges_per_day)

    def users(self, run_s: float, exchanges_per_user_s: float) -> int | None:
        """Users needed at ``run_s`` (each making ``exchanges_per_user_s``); None when over."""
        if run_s >= self.duration_s:
            return None
        if exchanges_per_user_s <= 0:
            raise ValueError("exchanges_per_user_s must be > 0")
        return max(1, math.ceil(self.target_rate(run_s) / exchanges_per_user_s))


@dataclass(frozen=True)
class StepPlan:
    """Users in steps: ``start`` users, ``+step`` every ``step_s`` seconds, up to ``max_users``."""

    start: int = 10
    step: int = 10
    step_s: float = 20.0
    max_users: int = 500

    def __post_init__(self) -> None:
        if self.start < 1 or self.step < 1 or self.step_s <= 0 or self.max_users < self.start:
            raise ValueError("need start >= 1, step >= 1, step_s > 0, max_users >= start")

    def step_index(self, run_s: float) -> int:
        return int(max(run_s, 0.0) // self.step_s)

    def users(self, run_s: float) -> int | None:
        """Users for wall second ``run_s``; None once the step past ``max_users`` would start."""
        users = self.start + self.step * self.step_index(run_s)
        return None if users > self.max_users else users


@dataclass(frozen=True)
class StepResult:
    """What one step achieved: its users, requests per second, p95 and failure ratio."""

    users: int
    rps: float
    p95_ms: float
    fail_ratio: float


@dataclass(frozen=True)
class Saturation:
    """The saturation verdict of a step: why it counts as saturated, or None."""

    step: StepResult
    reason: str | None


@dataclass(frozen=True)
class SaturationRule:
    """When a step counts as saturated.

    Users pace themselves at a fixed rate, so below saturation throughput grows in proportion
    to users. A step is saturated when its throughput per user falls under ``efficiency`` times
    the mean of the steps before it (the gateway no longer keeps up), or its p95 exceeds
    ``p95_ms``, or more than ``max_fail_ratio`` of its requests fail. The saturation point is
    the last step before.
    """

    efficiency: float = 0.85
    p95_ms: float = 1000.0
    max_fail_ratio: float = 0.01

    def judge(self, kept_up: Sequence[StepResult], step: StepResult) -> Saturation:
        """Judge ``step`` against the steps before it that kept up (their mean per-user rate
        is the reference, which smooths out the noise of any single step)."""
        rates = [r.rps / r.users for r in kept_up if r.users]
        reference = sum(rates) / len(rates) if rates else 0.0
        per_user = step.rps / step.users if step.users else 0.0
        if reference > 0 and per_user < self.efficiency * reference:
            return Saturation(
                step,
                f"throughput per user fell to {per_user / reference:.0%} of the steps before "
                f"({step.rps:.1f} req/s for {step.users} users)",
            )
        if step.p95_ms > self.p95_ms:
            return Saturation(step, f"p95 {step.p95_ms:.0f} ms > {self.p95_ms:.0f} ms")
        if step.fail_ratio > self.max_fail_ratio:
            return Saturation(step, f"{step.fail_ratio:.1%} of requests failed")
        return Saturation(step, None)


def percentile_of_counts(counts: dict[int, int], fraction: float) -> float:
    """The ``fraction`` percentile of a histogram ``{response time ms: count}`` (Locust's)."""
    total = sum(counts.values())
    if total == 0:
        return 0.0
    rank = fraction * total
    seen = 0
    for value in sorted(counts):
        seen += counts[value]
        if seen >= rank:
            return float(value)
    return float(max(counts))


def counts_between(before: dict[int, int], after: dict[int, int]) -> dict[int, int]:
    """The histogram of what happened between two snapshots of a cumulative histogram."""
    return {k: v - before.get(k, 0) for k, v in after.items() if v - before.get(k, 0) > 0}
