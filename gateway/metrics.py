"""Prometheus metrics of the gateway (``/metrics``), right with one worker or several.

With one worker the metrics live in an injected ``CollectorRegistry`` (tests read values from
it). When ``PROMETHEUS_MULTIPROC_DIR`` is set — the process supervisor sets it before uvicorn
starts, since prometheus_client picks its value store at import — every worker writes to
shared files and a scrape, whichever worker answers it, sums them (client_python's
multiprocess mode). Quota gauges are not counted in-process at all: they are read from the
quota store at scrape time, so they are right across workers and restarts.

Labels are names and templates, never raw ids; an unidentified consumer or unmatched service
is ``-``. Histogram buckets reach 30 s (the reports' complaint) and 60 s (X-Road's default
service timeout).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from contracts.exchange import ExchangeRecord, parse_injected_faults
from gateway.errors import QuotaExceeded
from gateway.quotas import QuotaRule

# In multiprocess mode every inc/observe asks os.getpid() whether the process forked (13 system
# calls per exchange); the pid is asked once here, and again only after a fork.
_pid = os.getpid()


def _process_id() -> int:
    return _pid


def _forked() -> None:
    global _pid
    _pid = os.getpid()


os.register_at_fork(after_in_child=_forked)
if getattr(values.ValueClass, "_multiprocess", False):  # chosen by prometheus_client at import
    values.ValueClass = values.MultiProcessValue(process_identifier=_process_id)  # type: ignore[no-untyped-call]

DURATION_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 45.0, 60.0,
)  # fmt: skip
UNKNOWN = "-"
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


@dataclass(frozen=True, slots=True)
class QuotaSample:
    consumer: str
    policy: str
    used: int
    limit: int | None  # None: no limit


class _QuotaCollector(Collector):
    """Serves the quota snapshot taken from the store just before the scrape."""

    def __init__(self) -> None:
        self.samples: list[QuotaSample] = []

    def collect(self) -> Iterable[GaugeMetricFamily]:
        used = GaugeMetricFamily(
            "ndxp_quota_used",
            "Requests counted today against a daily quota (local day, Asia/Ho_Chi_Minh).",
            labels=["consumer", "policy"],
        )
        limit = GaugeMetricFamily(
            "ndxp_quota_limit",
            "Daily quota in force today (runtime overrides applied).",
            labels=["consumer", "policy"],
        )
        for sample in self.samples:
            used.add_metric([sample.consumer, sample.policy], sample.used)
            if sample.limit is not None:
                limit.add_metric([sample.consumer, sample.policy], sample.limit)
        yield used
        yield limit


class GatewayMetrics:
    """The gateway's metric objects, and the exposition for ``/metrics``."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.multiprocess = MULTIPROC_ENV in os.environ
        # In multiprocess mode the objects write to the shared files and belong to no
        # registry; a fresh registry with a MultiProcessCollector reads them per scrape.
        target = None if self.multiprocess else (registry or CollectorRegistry())
        self.registry = target
        self.exchanges = Counter(
            "ndxp_exchanges",
            "Exchanges by consumer, provider, service and outcome (ok, an error code, ...).",
            ["consumer", "provider", "service", "outcome"],
            registry=target,
        )
        self.exchange_duration = Histogram(
            "ndxp_exchange_duration_seconds",
            "Time from request received to response ready, as the province sees it.",
            ["provider", "service"],
            buckets=DURATION_BUCKETS,
            registry=target,
        )
        self.upstream_duration = Histogram(
            "ndxp_upstream_duration_seconds",
            "Time the national database took, request sent to response read.",
            ["provider", "service"],
            buckets=DURATION_BUCKETS,
            registry=target,
        )
        self.quota_rejections = Counter(
            "ndxp_quota_rejections",
            "Requests refused with 429 quota_exceeded.",
            ["consumer", "service"],
            registry=target,
        )
        self.contract_violations = Counter(
            "ndxp_contract_violations",
            "Fields missing or invalid in providers' 2xx responses.",
            ["provider", "service", "field"],
            registry=target,
        )
        self.injected_faults = Counter(
            "ndxp_injected_faults",
            "Faults a mock national database said it injected (X-NDXP-Injected-Fault), "
            "by kind and scenario rule id.",
            ["provider", "service", "kind", "rule"],
            registry=target,
        )
        self.inflight = Gauge(
            "ndxp_inflight_exchanges",
            "Exchanges waiting on a national database right now.",
            ["provider"],
            registry=target,
            multiprocess_mode="livesum",
        )
        self.quota_unmetered = Counter(
            "ndxp_quota_unmetered",
            "Exchanges admitted without counting while the quota store was unreachable "
            "(quota_failure_policy=open).",
            ["consumer", "service"],
            registry=target,
        )
        self.live_feed_dropped = Counter(
            "ndxp_live_feed_dropped",
            "Finished exchange records the live view's feed did not take (nobody listening, "
            "or its queue full); the exchange log still has them.",
            registry=target,
        )
        self.log_dropped = Counter(
            "ndxp_exchange_log_dropped",
            "Exchange records that will never be stored: the journal was full or unwritable, "
            "the record malformed or refused by the store, or a journal line torn by a power cut.",
            registry=target,
        )
        self._quotas = _QuotaCollector()
        if target is not None:
            target.register(self._quotas)
        self._log_dropped_seen = 0
        # Label children by their values: ``labels()`` takes a lock and builds a tuple on
        # every call; the hot path asks for the same few children on every exchange.
        self._children: dict[tuple[str, ...], Any] = {}

    def _child(self, metric: Any, *values: str) -> Any:
        key = (str(id(metric)), *values)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*values)
        return child

    def inflight_for(self, provider: str) -> Gauge:
        """The in-flight gauge of ``provider``."""
        gauge: Gauge = self._child(self.inflight, provider)
        return gauge

    def observe_upstream(self, provider: str, service: str, seconds: float) -> None:
        """One call's time at the national database."""
        self._child(self.upstream_duration, provider, service).observe(seconds)

    def count_unmetered(self, rules: Sequence[QuotaRule]) -> None:
        """One exchange admitted without counting; labelled from its counters' keys."""
        consumer, service = UNKNOWN, UNKNOWN
        for rule in rules:
            owner, _, named = rule.key.partition("|")
            consumer, service = owner, named or service
        self.quota_unmetered.labels(consumer, service).inc()

    def observe(self, record: ExchangeRecord) -> None:
        """Count one finished exchange (an observer of ``Runtime.observers``)."""
        provider, service = record.provider or UNKNOWN, record.service or UNKNOWN
        consumer = record.consumer or UNKNOWN
        self._child(self.exchanges, consumer, provider, service, record.outcome).inc()
        self._child(self.exchange_duration, provider, service).observe(record.duration_ms / 1e3)
        if record.outcome == QuotaExceeded.code:
            self.quota_rejections.labels(consumer, service).inc()
        for path in record.contract_violations:
            self.contract_violations.labels(provider, service, path).inc()
        for kind, rule in parse_injected_faults(record.injected_fault):
            self.injected_faults.labels(provider, service, kind, rule).inc()

    def count_log_dropped(self, dropped: int) -> None:
        """Catch the counter up with the log's own (per-process, monotonic) drop count."""
        if dropped > self._log_dropped_seen:
            self.log_dropped.inc(dropped - self._log_dropped_seen)
            self._log_dropped_seen = dropped

    def exposition(self, quota_samples: list[QuotaSample]) -> tuple[bytes, str]:
        """The text exposition and its content type, with the given quota snapshot."""
        self._quotas.samples = quota_samples
        if self.registry is not None:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        scrape = CollectorRegistry()
        multiprocess.MultiProcessCollector(scrape)  # type: ignore[no-untyped-call]
        scrape.register(self._quotas)
        return generate_latest(scrape), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """Forget this process's live gauges (a stopped worker waits on nothing)."""
        if self.multiprocess:
            multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


def label(value: str | None) -> str:
    return UNKNOWN if value is None else value
