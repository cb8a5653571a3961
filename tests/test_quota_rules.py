"""Quota rules: two counters per exchange; unlimited ones are counted but never shown."""

from __future__ import annotations

from gateway.quota_rules import (
    UNLIMITED,
    limited,
    quota_entries,
    rules_for,
    split_key,
    tightest_remaining,
)
from gateway.quotas import QuotaDecision, QuotaState
from gateway.registry import ConsumerSpec, load_registry
from gateway.routing import Router
from gateway.testing import small_registry
from ndxp_config.settings import GatewaySettings, Settings


def _thanh_hoa(
    daily_quota: int | None = None, service_quotas: dict[str, int] | None = None
) -> ConsumerSpec:
    registry = small_registry(daily_quota=daily_quota, service_quotas=service_quotas)
    return registry.consumers[0]


def test_exchange_draws_on_the_consumer_and_the_service_counter() -> None:
    consumer = _thanh_hoa(daily_quota=100, service_quotas={"population.get_citizen": 5})
    whole, service = rules_for(consumer, "population.get_citizen")
    assert (whole.key, whole.policy, whole.limit) == ("onestop-thanh-hoa", "daily", 100)
    assert (service.key, service.policy, service.limit) == (
        "onestop-thanh-hoa|population.get_citizen",
        "daily-population.get_citizen",
        5,
    )


def test_counter_without_a_limit_is_unlimited() -> None:
    whole, service = rules_for(_thanh_hoa(), "population.verify_citizen")
    assert whole.limit == service.limit == UNLIMITED


def test_unlimited_states_are_left_out_of_headers_and_remaining() -> None:
    states = (
        QuotaState("c", "daily", UNLIMITED, 3, UNLIMITED - 3),
        QuotaState("c|s", "daily-s", 10, 3, 7),
    )
    decision = QuotaDecision(admitted=True, states=states, violated=())
    assert [s.policy for s in limited(decision).states] == ["daily-s"]
    assert tightest_remaining(states) == 7
    assert tightest_remaining(states[:1]) is None


def test_split_key() -> None:
    assert split_key("c|population.get_citizen") == ("c", "population.get_citizen")
    assert split_key("c") == ("c", None)


def test_entries_show_limits_overrides_and_usage() -> None:
    consumer = _thanh_hoa(daily_quota=100, service_quotas={"population.get_citizen": 5})
    entries = quota_entries(
        [consumer],
        usage={"onestop-thanh-hoa": 4, "onestop-thanh-hoa|population.verify_citizen": 4},
        overrides={"onestop-thanh-hoa|population.get_citizen": 2},
    )
    view = {(e.service, e.limit, e.override, e.used, e.remaining) for e in entries}
    assert view == {
        (None, 100, None, 4, 96),
        ("population.get_citizen", 2, 2, 0, 2),
        ("population.verify_citizen", None, None, 4, None),
    }


def test_v1_and_v2_of_an_operation_draw_on_one_counter() -> None:
    settings = Settings(gateway=GatewaySettings(registry_path=None))  # the shipped registry
    registry = load_registry(settings)
    router = Router(registry, settings)
    consumer = registry.consumer("onestop-thanh-hoa")
    assert consumer is not None
    v1 = router.by_service["population.get_citizen"]
    v2 = router.by_service["population.get_citizen_v2"]
    assert (v1.quota_service, v2.quota_service) == ("population.get_citizen",) * 2
    assert router.by_service["business-registry.get_enterprise"].quota_service == (
        "business-registry.get_enterprise"
    )
    assert rules_for(consumer, v2.quota_service) == rules_for(consumer, v1.quota_service)
    _, lookups = rules_for(consumer, v2.quota_service)
    assert lookups.limit == 50_000  # the reports' figure, for both versions together
    # Two lookups (one of each version) are one counter at 2, shown once.
    entries = quota_entries(
        [consumer], usage={"onestop-thanh-hoa": 2, "onestop-thanh-hoa|population.get_citizen": 2},
        overrides={},
    )  # fmt: skip
    assert [(e.service, e.used, e.remaining) for e in entries] == [
        (None, 2, 199_998),
        ("population.get_citizen", 2, 49_998),
    ]
