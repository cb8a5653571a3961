"""A hop's Prometheus metrics, against an injected registry (``GET /metrics`` serves it).

Labels are names, never ids: the hop, the provider a call was for (``none`` when the path
names no operation), and the hop's outcome (:data:`contracts.hops.HOP_OUTCOMES`).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram

from contracts.hops import HopRecord

_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)


class HopMetrics:
    """Counters and a latency histogram for one hop process."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.exchanges = Counter(
            "ndxp_hop_exchanges_total",
            "Calls carried or refused by a route's hop, by outcome.",
            ["hop", "provider", "outcome", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "ndxp_hop_duration_seconds",
            "Time from a call's arrival at the hop to its answer (the gateway's time included).",
            ["hop", "provider"],
            buckets=_BUCKETS,
            registry=registry,
        )
        self.log_errors = Counter(
            "ndxp_hop_log_errors_total",
            "Hop records that could not be written to the hop's log.",
            ["hop"],
            registry=registry,
        )

    def observe(self, record: HopRecord) -> None:
        provider = record.provider or "none"
        self.exchanges.labels(record.hop, provider, record.outcome, str(record.status_code)).inc()
        self.duration.labels(record.hop, provider).observe(record.duration_ms / 1000.0)
