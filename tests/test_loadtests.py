"""The load shapes' arithmetic (loadtests/shapes.py), and that every locustfile loads.

Locust is never imported here: it monkey-patches the standard library with gevent on import.
The shapes are plain arithmetic for that reason; the locustfiles are loaded by a Locust
subprocess (``--list``), which fails on any import or option error.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import time
from pathlib import Path

import pytest

from loadtests.shapes import (
    DAY_S,
    NDXP_EXCHANGES_PER_DAY,
    CompressedDay,
    DayProfile,
    SaturationRule,
    StepPlan,
    StepResult,
    counts_between,
    percentile_of_counts,
)

ROOT = Path(__file__).resolve().parent.parent
LOCUST = Path(sys.executable).with_name("locust")


def at(clock: str) -> int:
    hours, minutes = map(int, clock.split(":"))
    return hours * 3600 + minutes * 60


def test_the_day_carries_exactly_the_daily_volume() -> None:
    profile = DayProfile()
    # Integrate the rate over the day second by second in 60 s strides (piecewise constant
    # on minutes, so the sum is exact).
    total = sum(profile.rate(s, NDXP_EXCHANGES_PER_DAY) * 60 for s in range(0, DAY_S, 60))
    assert total == pytest.approx(NDXP_EXCHANGES_PER_DAY)


def test_the_morning_peak_is_the_busiest_time_and_lunch_dips() -> None:
    profile = DayProfile()
    peak = max(profile.intensity(s) for s in range(0, DAY_S, 60))
    assert profile.intensity(at("07:30")) == peak
    assert profile.intensity(at("10:59")) == peak
    assert profile.intensity(at("07:29")) < peak
    assert profile.intensity(at("12:00")) < profile.intensity(at("14:00")) < peak
    assert profile.intensity(at("03:00")) < profile.intensity(at("12:00"))


def test_periods_must_cover_the_day_in_order() -> None:
    with pytest.raises(ValueError, match="00:00"):
        DayProfile(periods=(("06:00", 1.0),))
    with pytest.raises(ValueError, match="increasing"):
        DayProfile(periods=(("00:00", 1.0), ("12:00", 1.0), ("08:00", 1.0)))


def test_compressed_day_maps_wall_time_onto_the_local_window() -> None:
    day = CompressedDay(duration_s=120, start=time(6, 0), end=time(18, 0))
    assert day.local_second(0) == at("06:00")
    assert day.local_second(60) == at("12:00")
    assert day.local_second(120) == at("18:00")
    assert day.local_second(500) == at("18:00")  # clamped


def test_compressed_day_keeps_the_real_rate_times_the_scale() -> None:
    full = CompressedDay(duration_s=120, scale=1.0)
    tenth = CompressedDay(duration_s=120, scale=0.1)
    nine_am = 30  # 06:00 + 30/120 of 12 h
    expected = DayProfile().rate(at("09:00"), NDXP_EXCHANGES_PER_DAY)
    assert full.target_rate(nine_am) == pytest.approx(expected)
    assert tenth.target_rate(nine_am) == pytest.approx(expected / 10)
    # National peak: 2.8 M a day puts the morning peak between 80 and 90 exchanges/s.
    assert 80 < expected < 90


def test_compressed_day_users_follow_the_rate_and_end_with_the_window() -> None:
    day = CompressedDay(duration_s=120, scale=1.0)
    per_user = 1.0
    morning = day.users(30, per_user)
    lunch = day.users(60, per_user)
    assert morning is not None
    assert lunch is not None
    assert morning == -(-day.target_rate(30) // per_user)  # ceil
    assert lunch < morning
    assert day.users(120, per_user) is None


@pytest.mark.parametrize(
    ("duration_s", "start", "end"),
    [(0, time(6), time(18)), (60, time(18), time(6))],
    ids=["no-duration", "window-backwards"],
)
def test_compressed_day_refuses_nonsense(duration_s: float, start: time, end: time) -> None:
    with pytest.raises(ValueError):  # noqa: PT011 - either message is right
        CompressedDay(duration_s=duration_s, start=start, end=end)


def test_step_plan_adds_users_each_step_until_the_maximum() -> None:
    plan = StepPlan(start=10, step=5, step_s=20, max_users=20)
    assert [plan.users(t) for t in (0, 19.9, 20, 40, 59.9)] == [10, 10, 15, 20, 20]
    assert plan.users(60) is None


STEP = StepResult(users=10, rps=100.0, p95_ms=50.0, fail_ratio=0.0)


@pytest.mark.parametrize(
    ("step", "reason"),
    [
        (StepResult(users=20, rps=195.0, p95_ms=80.0, fail_ratio=0.0), None),
        (StepResult(users=20, rps=160.0, p95_ms=80.0, fail_ratio=0.0), "throughput per user"),
        (StepResult(users=20, rps=200.0, p95_ms=1500.0, fail_ratio=0.0), "p95"),
        (StepResult(users=20, rps=200.0, p95_ms=80.0, fail_ratio=0.05), "failed"),
    ],
    ids=["keeps-up", "throughput-flattens", "p95-too-high", "failures"],
)
def test_saturation_rule(step: StepResult, reason: str | None) -> None:
    verdict = SaturationRule().judge([STEP], step)
    if reason is None:
        assert verdict.reason is None
    else:
        assert verdict.reason is not None
        assert reason in verdict.reason


def test_saturation_reference_is_the_mean_of_the_steps_that_kept_up() -> None:
    kept_up = [STEP, StepResult(users=20, rps=160.0, p95_ms=50.0, fail_ratio=0.0)]  # 10 and 8
    step = StepResult(users=30, rps=230.0, p95_ms=50.0, fail_ratio=0.0)  # 7.67 per user
    assert SaturationRule(efficiency=0.85).judge(kept_up, step).reason is None  # ≥ 0.85 × 9
    assert SaturationRule(efficiency=0.9).judge(kept_up, step).reason is not None


def test_percentiles_of_a_step_come_from_the_difference_of_snapshots() -> None:
    before = {10: 90, 500: 0}
    after = {10: 100, 500: 10, 900: 1}
    step = counts_between(before, after)
    assert step == {10: 10, 500: 10, 900: 1}
    assert percentile_of_counts(step, 0.5) == 500
    assert percentile_of_counts(step, 0.95) == 500
    assert percentile_of_counts(step, 1.0) == 900
    assert percentile_of_counts({}, 0.95) == 0.0


LOCUSTFILES = ("provinces", "quota_exhaustion", "timeouts", "business_day", "step")


def test_every_locustfile_loads_with_its_user_classes() -> None:
    # One Locust process loads them all (each costs seconds of imports): any import error,
    # bad option or duplicate class name fails it.
    paths = ",".join(f"loadtests/{name}.py" for name in LOCUSTFILES)
    result = subprocess.run(
        [str(LOCUST), "-f", paths, "--list"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    listed = {line.strip() for line in result.stdout.splitlines() if line.strip()}
    assert {"OneStopDesk", "DossierSyncJob", "QuotaExhaustion", "SlowProviderCaller"} <= listed
