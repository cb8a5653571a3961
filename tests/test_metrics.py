"""Metrics objects: names, labels, buckets; read from an injected registry."""

from __future__ import annotations

from prometheus_client import CollectorRegistry

from gateway.metrics import DURATION_BUCKETS, GatewayMetrics, QuotaSample, label


def test_duration_buckets_reach_30_and_60_seconds() -> None:
    assert 30.0 in DURATION_BUCKETS
    assert 60.0 in DURATION_BUCKETS


def test_metrics_are_registered_on_the_injected_registry() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    metrics.exchanges.labels("c", "p", "p.s", "ok").inc()
    metrics.inflight.labels("p").inc()
    labels = {"consumer": "c", "provider": "p", "service": "p.s", "outcome": "ok"}
    assert registry.get_sample_value("ndxp_exchanges_total", labels) == 1
    assert registry.get_sample_value("ndxp_inflight_exchanges", {"provider": "p"}) == 1


def test_log_drops_are_caught_up_not_double_counted() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    metrics.count_log_dropped(2)
    metrics.count_log_dropped(2)
    metrics.count_log_dropped(5)
    assert registry.get_sample_value("ndxp_exchange_log_dropped_total") == 5


def test_quota_gauges_come_from_the_snapshot_given_at_scrape() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    body, content_type = metrics.exposition(
        [QuotaSample("c", "daily", 7, 10), QuotaSample("c", "daily-p.s", 3, None)]
    )
    assert content_type.startswith("text/plain")
    assert registry.get_sample_value("ndxp_quota_used", {"consumer": "c", "policy": "daily"}) == 7
    assert registry.get_sample_value("ndxp_quota_limit", {"consumer": "c", "policy": "daily"}) == 10
    assert b'ndxp_quota_limit{consumer="c",policy="daily-p.s"}' not in body


def test_unknown_label_values_are_a_dash() -> None:
    assert label(None) == "-"
    assert label("population") == "population"
