"""Metrics objects: names, labels, buckets; read from an injected registry."""

from __future__ import annotations

from datetime import UTC, datetime

from prometheus_client import CollectorRegistry

from contracts.exchange import ExchangeRecord
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


def _record(**fields: object) -> ExchangeRecord:
    now = datetime.now(UTC)
    base: dict[str, object] = {
        "exchange_id": "e1",
        "trace_id": "0" * 31 + "1",
        "consumer": "c",
        "provider": "p",
        "service": "p.s",
        "method": "GET",
        "path_template": "/v1/x",
        "status_code": 200,
        "outcome": "ok",
        "succeeded": True,
        "fault_code": None,
        "request_in_ts": now,
        "request_out_ts": None,
        "response_in_ts": None,
        "response_out_ts": now,
        "duration_ms": 250.0,
        "upstream_ms": None,
        "request_size": 0,
        "response_size": 0,
        "quota_remaining": None,
    }
    return ExchangeRecord.model_validate({**base, **fields})


def test_observing_a_record_counts_it_with_its_duration_violations_and_faults() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    metrics.observe(
        _record(contract_violations=["name"], injected_fault="latency:slow-br, drop:coop")
    )
    labels = {"consumer": "c", "provider": "p", "service": "p.s", "outcome": "ok"}
    assert registry.get_sample_value("ndxp_exchanges_total", labels) == 1
    duration = {"provider": "p", "service": "p.s", "le": "0.25"}
    assert registry.get_sample_value("ndxp_exchange_duration_seconds_bucket", duration) == 1
    violation = {"provider": "p", "service": "p.s", "field": "name"}
    assert registry.get_sample_value("ndxp_contract_violations_total", violation) == 1
    fault = {"provider": "p", "service": "p.s", "kind": "drop", "rule": "coop"}
    assert registry.get_sample_value("ndxp_injected_faults_total", fault) == 1


def test_observing_a_quota_refusal_counts_a_rejection_and_unknowns_as_dashes() -> None:
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    metrics.observe(_record(outcome="quota_exceeded", succeeded=False, status_code=429))
    metrics.observe(
        _record(consumer=None, provider=None, service=None, outcome="not_found", status_code=404)
    )
    rejected = {"consumer": "c", "service": "p.s"}
    assert registry.get_sample_value("ndxp_quota_rejections_total", rejected) == 1
    unknown = {"consumer": "-", "provider": "-", "service": "-", "outcome": "not_found"}
    assert registry.get_sample_value("ndxp_exchanges_total", unknown) == 1
