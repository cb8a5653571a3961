"""What the page shows besides the moving exchanges: the last minute per national database, the
counts by outcome and failure mode, and each province's and database's last exchanges.

All of it is kept in memory from the feed (no query to the exchange log): a page opened late
gets this snapshot, then the stream. Latency percentiles are nearest-rank over the exchanges
that *finished* in the last :data:`WINDOW_S` seconds. Failure modes are attributed as the
report does (:mod:`ndxp_sim.report`): the mock's injected-fault header names a scenario rule,
whose ``failure_mode`` the catalogue gives (else the fault kind's); a failure without a header
counts by its outcome; contract violations without one count as FM-04.
"""

from __future__ import annotations

import math
import time
from collections import Counter, deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.exchange import OUTCOME_OK, OUTCOME_UPSTREAM_REJECTED, ExchangeRecord
from contracts.exchange import parse_injected_faults as _faults
from ndxp_sim.failure_modes import FAULT_KIND_FAILURE_MODE, OUTCOME_FAILURE_MODE

WINDOW_S = 60.0
RECENT = 25  # last exchanges kept per province and per database
CONTRACT_FAILURE_MODE = "FM-04"
# Outcomes the gateway itself decides (the province's fault or its quota): no database is
# unhealthy because of them.
GATEWAY_REFUSALS = frozenset(
    {
        "unauthenticated",
        "forbidden",
        "unknown_service",
        "invalid_request",
        "payload_too_large",
        "quota_exceeded",
        "quota_unavailable",
    }
)


def failure_modes_of(record: ExchangeRecord, rule_modes: Mapping[str, str]) -> set[str]:
    """The FM-xx this exchange shows (empty for a clean one)."""
    faults = _faults(record.injected_fault)
    found = {rule_modes.get(rule) or FAULT_KIND_FAILURE_MODE.get(kind) for kind, rule in faults}
    if not faults:
        found.add(OUTCOME_FAILURE_MODE.get(record.outcome))
        if record.contract_violations:
            found.add(CONTRACT_FAILURE_MODE)
    return {mode for mode in found if mode}


def colour_of(record: ExchangeRecord) -> str:
    """How the page colours an exchange.

    ``ok``; ``degraded`` — it answered, but the answer was spoiled (a fault the mock injected:
    an empty list, missing fields, a slow answer; or fields the contract check flagged);
    ``failed`` — the database failed or was cut off (timeout, reset, 5xx, maintenance);
    ``rejected`` — the database refused the request (a 4xx passed on, e.g. not found);
    ``refused`` — NDXP itself refused it (token, rights, quota).
    """
    if record.outcome in GATEWAY_REFUSALS:
        return "refused"
    if record.outcome == OUTCOME_UPSTREAM_REJECTED:
        return "rejected"
    if record.outcome != OUTCOME_OK:
        return "failed"
    if record.contract_violations or record.injected_fault:
        return "degraded"
    return "ok"


FAILURE_COLOURS = frozenset({"failed", "degraded"})


@dataclass(frozen=True, slots=True)
class _Sample:
    at: float
    duration_ms: float
    failed: bool


class LiveStats:
    """Rolling figures over the records the feed brings.

    Args:
        provinces: consumer id → province code (the registry's).
        rule_modes: scenario rule id → failure mode (the catalogue's).
        clock: monotonic seconds (tests pass their own).
    """

    def __init__(
        self,
        provinces: Mapping[str, str],
        rule_modes: Mapping[str, str] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.provinces = provinces
        self.rule_modes = rule_modes or {}
        self.clock = clock
        self.total = 0
        self.outcomes: Counter[str] = Counter()
        self.failure_modes: Counter[str] = Counter()
        self._window: dict[str, deque[_Sample]] = {}
        self.recent_by_province: dict[str, deque[dict[str, Any]]] = {}
        self.recent_by_provider: dict[str, deque[dict[str, Any]]] = {}

    def enrich(self, record: ExchangeRecord) -> dict[str, Any]:
        """The record as the page receives it: the record plus province, colour, modes."""
        data = record.model_dump(mode="json")
        data["province"] = self.provinces.get(record.consumer or "")
        data["colour"] = colour_of(record)
        data["failure_modes"] = sorted(failure_modes_of(record, self.rule_modes))
        return data

    def add(self, record: ExchangeRecord) -> dict[str, Any]:
        """Count ``record``; returns its enriched form (what is fanned out)."""
        data = self.enrich(record)
        self.total += 1
        self.outcomes[record.outcome] += 1
        self.failure_modes.update(data["failure_modes"])
        if record.provider:
            window = self._window.setdefault(record.provider, deque())
            failed = data["colour"] in FAILURE_COLOURS
            window.append(_Sample(self.clock(), record.duration_ms, failed))
            self._recent(self.recent_by_provider, record.provider).append(data)
        if data["province"]:
            self._recent(self.recent_by_province, data["province"]).append(data)
        return data

    @staticmethod
    def _recent(table: dict[str, deque[dict[str, Any]]], key: str) -> deque[dict[str, Any]]:
        if key not in table:
            table[key] = deque(maxlen=RECENT)
        return table[key]

    def databases(self) -> dict[str, dict[str, Any]]:
        """Per database, the last minute: exchanges, failures, p50/p95 latency, a verdict."""
        cutoff = self.clock() - WINDOW_S
        figures = {}
        for provider, window in self._window.items():
            while window and window[0].at < cutoff:
                window.popleft()
            durations = sorted(s.duration_ms for s in window)
            failures = sum(s.failed for s in window)
            count = len(window)
            ratio = failures / count if count else 0.0
            health = "idle" if not count else "up" if ratio < 0.05 else "degraded"
            if count and ratio >= 0.5:
                health = "failing"
            figures[provider] = {
                "exchanges": count,
                "failures": failures,
                "p50_ms": _percentile(durations, 50),
                "p95_ms": _percentile(durations, 95),
                "health": health,
            }
        return figures

    def snapshot(self) -> dict[str, Any]:
        """Everything the page needs when it opens (then the stream keeps it current)."""
        return {
            "total": self.total,
            "outcomes": dict(self.outcomes),
            "failure_modes": dict(self.failure_modes),
            "databases": self.databases(),
            "recent": {
                "province": {k: list(v) for k, v in self.recent_by_province.items()},
                "database": {k: list(v) for k, v in self.recent_by_provider.items()},
            },
        }

    def summary(self) -> dict[str, Any]:
        """The periodic ``stats`` event: the snapshot without the recent exchanges."""
        return {
            "total": self.total,
            "outcomes": dict(self.outcomes),
            "failure_modes": dict(self.failure_modes),
            "databases": self.databases(),
        }


def _percentile(ordered: list[float], pct: float) -> float | None:
    if not ordered:
        return None
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)


__all__ = [
    "FAILURE_COLOURS",
    "GATEWAY_REFUSALS",
    "WINDOW_S",
    "LiveStats",
    "colour_of",
    "failure_modes_of",
]
