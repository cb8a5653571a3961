"""``ndxp-sim report``: what a run observed, next to the report rows it reproduces.

Input: the exchange records of a time range (a run's, or any), the run's scenario document
when there is one, and the registry's consumer → province table. Each exchange is attributed
to failure modes (FM-xx of REPORTS.md):

1. every fault the mock said it injected (``injected_fault``: ``kind:rule-id``) counts for the
   rule's ``failure_mode`` in the run's document, else for its kind's
   (:data:`~ndxp_sim.failure_modes.FAULT_KIND_FAILURE_MODE`);
2. a failure with no fault header (a hang cut by the gateway's timeout, a reset before the
   response, a real provider error) counts by its outcome
   (:data:`~ndxp_sim.failure_modes.OUTCOME_FAILURE_MODE`);
3. contract violations with no fault header count as FM-04 (missing fields).

Refusals by the gateway itself (401, 403, 404 unknown service, 429 quota) are nobody's
failure mode: they are counted, never attributed. Two tables follow: one row per failure mode
seen, and one per province × provider. Percentiles are nearest-rank.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from contracts.exchange import OUTCOME_OK, ExchangeRecord, parse_injected_faults
from contracts.gateway import Run
from mock_services.provinces import PROVINCES
from ndxp_sim.failure_modes import FAILURE_MODES, FAULT_KIND_FAILURE_MODE, OUTCOME_FAILURE_MODE

_TIMEOUT = "upstream_timeout"
_CONTRACT_FM = "FM-04"
_PROVINCE_NAMES = {p.code: p.name for p in PROVINCES}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FailureModeRow(_Model):
    failure_mode: str
    title: str
    exchanges: int = Field(description="Exchanges this failure mode touched.")
    failures: dict[str, int] = Field(description="Those that did not succeed, by outcome.")
    timeout_rate: float
    p95_ms: float
    violated_fields: dict[str, int]
    rules: dict[str, int] = Field(description="Injected faults by scenario rule id.")
    provinces: list[str]
    citations: list[str] = Field(description="The report rows it reproduces.")


class CellRow(_Model):
    province: str
    province_name: str
    provider: str
    requests: int
    ok: int
    failures: dict[str, int]
    timeout_rate: float
    p95_ms: float
    violated_fields: dict[str, int]
    failure_modes: list[str]
    citations: list[str]


class Report(_Model):
    run_id: str | None
    scenario: str | None
    since: datetime | None
    until: datetime | None
    exchanges: int
    outcomes: dict[str, int]
    failure_modes: list[FailureModeRow]
    cells: list[CellRow]


class _Rules:
    """The run's rules by id: failure mode and sources."""

    def __init__(self, document: Mapping[str, Any] | None) -> None:
        self.by_id: dict[str, Mapping[str, Any]] = {
            str(rule["id"]): rule for rule in (document or {}).get("rules", ())
        }

    def failure_mode(self, kind: str, rule_id: str) -> str | None:
        rule = self.by_id.get(rule_id)
        if rule is not None and rule.get("failure_mode"):
            return str(rule["failure_mode"])
        return FAULT_KIND_FAILURE_MODE.get(kind)

    def sources(self, rule_id: str) -> list[str]:
        rule = self.by_id.get(rule_id)
        return [str(s) for s in rule.get("source", ())] if rule else []


def attribute(record: ExchangeRecord, rules: _Rules) -> dict[str, list[str]]:
    """Failure mode → rule ids (``[]`` when attributed by outcome or contract check)."""
    found: dict[str, list[str]] = defaultdict(list)
    faults = parse_injected_faults(record.injected_fault)
    for kind, rule_id in faults:
        mode = rules.failure_mode(kind, rule_id)
        if mode is not None:
            found[mode].append(rule_id)
    if not faults:
        by_outcome = OUTCOME_FAILURE_MODE.get(record.outcome)
        if by_outcome is not None:
            found.setdefault(by_outcome, [])
        if record.contract_violations:
            found.setdefault(_CONTRACT_FM, [])
    return dict(found)


def build_report(
    records: Iterable[ExchangeRecord],
    *,
    provinces: Mapping[str, str | None],
    run: Run | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Report:
    """The report of ``records``; ``provinces`` maps consumer id → province code."""
    rules = _Rules(run.document if run else None)
    outcomes: Counter[str] = Counter()
    by_mode: dict[str, list[ExchangeRecord]] = defaultdict(list)
    mode_rules: dict[str, Counter[str]] = defaultdict(Counter)
    mode_provinces: dict[str, set[str]] = defaultdict(set)
    by_cell: dict[tuple[str, str], list[ExchangeRecord]] = defaultdict(list)
    cell_modes: dict[tuple[str, str], set[str]] = defaultdict(set)
    cell_rules: dict[tuple[str, str], set[str]] = defaultdict(set)
    total = 0
    for record in records:
        total += 1
        outcomes[record.outcome] += 1
        province = provinces.get(record.consumer or "") or "-"
        cell = (province, record.provider) if record.provider else None
        if cell is not None:
            by_cell[cell].append(record)
        for mode, rule_ids in attribute(record, rules).items():
            by_mode[mode].append(record)
            mode_rules[mode].update(rule_ids)
            mode_provinces[mode].add(province)
            if cell is not None:
                cell_modes[cell].add(mode)
                cell_rules[cell].update(rule_ids)
    modes = [
        _mode_row(mode, by_mode[mode], mode_rules[mode], mode_provinces[mode], rules)
        for mode in sorted(by_mode)
    ]
    cells = [
        _cell_row(cell, by_cell[cell], cell_modes[cell], cell_rules[cell], rules)
        for cell in sorted(by_cell)
    ]
    return Report(
        run_id=run.run_id if run else None,
        scenario=run.scenario if run else None,
        since=since,
        until=until,
        exchanges=total,
        outcomes=dict(sorted(outcomes.items())),
        failure_modes=modes,
        cells=cells,
    )


def _mode_row(
    mode: str,
    records: list[ExchangeRecord],
    rule_counts: Counter[str],
    provinces: set[str],
    rules: _Rules,
) -> FailureModeRow:
    known = FAILURE_MODES.get(mode)
    citations = {source for rule_id in rule_counts for source in rules.sources(rule_id)}
    if known is not None:
        citations.add(known.citation)
    return FailureModeRow(
        failure_mode=mode,
        title=known.title if known else "",
        exchanges=len(records),
        failures=_failures(records),
        timeout_rate=_rate(records),
        p95_ms=percentile([r.duration_ms for r in records], 95),
        violated_fields=_violations(records),
        rules=dict(sorted(rule_counts.items())),
        provinces=sorted(provinces),
        citations=sorted(citations),
    )


def _cell_row(
    cell: tuple[str, str],
    records: list[ExchangeRecord],
    modes: set[str],
    rule_ids: set[str],
    rules: _Rules,
) -> CellRow:
    province, provider = cell
    citations = {source for rule_id in rule_ids for source in rules.sources(rule_id)}
    citations |= {FAILURE_MODES[m].citation for m in modes if m in FAILURE_MODES}
    return CellRow(
        province=province,
        province_name=_PROVINCE_NAMES.get(province, "-"),
        provider=provider,
        requests=len(records),
        ok=sum(r.outcome == OUTCOME_OK for r in records),
        failures=_failures(records),
        timeout_rate=_rate(records),
        p95_ms=percentile([r.duration_ms for r in records], 95),
        violated_fields=_violations(records),
        failure_modes=sorted(modes),
        citations=sorted(citations),
    )


def _failures(records: Sequence[ExchangeRecord]) -> dict[str, int]:
    return dict(sorted(Counter(r.outcome for r in records if r.outcome != OUTCOME_OK).items()))


def _violations(records: Sequence[ExchangeRecord]) -> dict[str, int]:
    return dict(sorted(Counter(f for r in records for f in r.contract_violations).items()))


def _rate(records: Sequence[ExchangeRecord]) -> float:
    return round(sum(r.outcome == _TIMEOUT for r in records) / len(records), 4) if records else 0.0


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values), rounded to 0.1 ms."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)
