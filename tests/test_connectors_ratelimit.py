"""Reading RateLimit / RateLimit-Policy as the gateway writes them, and the reserve's memory."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.ratelimit import (
    QuotaTracker,
    RateLimit,
    RateLimitPolicy,
    parse_ratelimit,
    parse_ratelimit_policy,
)
from gateway.quotas import QuotaDecision, QuotaState, ratelimit_headers

NOW = datetime(2024, 12, 30, 16, 0, tzinfo=UTC)  # 23:00 in Hà Nội: one hour to the reset


def decision(*states: tuple[str, int, int]) -> QuotaDecision:
    return QuotaDecision(
        admitted=True,
        states=tuple(
            QuotaState(key=p, policy=p, limit=limit, used=limit - left, remaining=left)
            for p, limit, left in states
        ),
        violated=(),
    )


def test_reads_the_headers_the_gateway_writes() -> None:
    headers = ratelimit_headers(
        decision(("daily", 200_000, 150_000), ("daily-population.get_citizen", 50_000, 12)), NOW
    )

    assert parse_ratelimit(headers["RateLimit"]) == [
        RateLimit(policy="daily-population.get_citizen", remaining=12, reset_s=3600)
    ]
    assert parse_ratelimit_policy(headers["RateLimit-Policy"]) == [
        RateLimitPolicy(policy="daily", quota=200_000, window_s=86_400),
        RateLimitPolicy(policy="daily-population.get_citizen", quota=50_000, window_s=86_400),
    ]


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, []),
        ("", []),
        ("garbage", []),
        ('"a";r=1;t=2, "b";r=0', [RateLimit("a", 1, 2), RateLimit("b", 0, None)]),
        ('"with, comma";r=5;t=9', [RateLimit("with, comma", 5, 9)]),
        ('"esc\\"aped";r=1', [RateLimit('esc"aped', 1, None)]),
        ("token-name;r=3;t=4", [RateLimit("token-name", 3, 4)]),
        ('"no-remaining";t=4, "ok";r=2', [RateLimit("ok", 2, None)]),
    ],
)
def test_parser_is_tolerant(header: str | None, expected: list[RateLimit]) -> None:
    assert parse_ratelimit(header) == expected


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def test_tracker_keeps_the_tightest_policy_of_a_service_until_its_reset() -> None:
    clock = Clock()
    tracker = QuotaTracker(clock)
    tracker.observe('"daily-population.get_citizen";r=7;t=100')
    tracker.observe('"daily";r=3;t=50')

    assert tracker.remaining("population.get_citizen") == ("daily", 3, 50)
    assert tracker.remaining("civil-registry.get_registration") == ("daily", 3, 50)
    assert tracker.remaining("population.verify_citizen") == ("daily", 3, 50)

    clock.now = 60  # the consumer-wide figure has reset; the service one still holds
    assert tracker.remaining("population.get_citizen") == ("daily-population.get_citizen", 7, 40)
    assert tracker.remaining("population.verify_citizen") is None

    clock.now = 100
    assert tracker.remaining("population.get_citizen") is None
