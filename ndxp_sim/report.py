"""``ndxp-sim report``: what a run observed, and the report rows its rules really reproduced.

Input: the exchange records of a time range (a run's, or any), the run's scenario document
when there is one, and the registry's consumer → province table. Each exchange is split into
:class:`Hit` s — a failure mode, the rule that explains it, the failure it caused:

1. every fault the mock said it injected (``injected_fault``: ``kind:rule-id``) is a hit of
   the rule's ``failure_mode`` (else its kind's). It caused the exchange's failure only if its
   kind causes that outcome (:attr:`~mock_services.fault_specs.FaultKind.outcomes`: a latency
   explains a timeout, not a 404). Kinds that spoil an answer the gateway passes on as ``ok``
   count as a failure of their own (:attr:`~mock_services.fault_specs.FaultKind.spoils`):
   ``empty_answer`` (an emptied list, an empty body), ``missing_fields`` (with the fields the
   rule names that the contract check found missing), ``stale_status``;
2. a failure that no header explains (a hang cut by the gateway's timeout, a reset before the
   response — neither can carry the header) is *inferred*: a hit of every rule of the run whose
   kind causes that outcome and whose match covers the exchange; with no such rule, it counts
   by its outcome alone (:data:`~ndxp_sim.failure_modes.OUTCOME_FAILURE_MODE`), for no rule;
3. contract violations that no rule explains count as FM-04, for no rule.

A failure mode's row claims only the rows its fired rules cite; the other rows REPORTS.md
names for that mode are shown apart (``not_reproduced``). Refusals by the gateway itself
(401, 403, 404 unknown service, 429 quota) are nobody's failure mode: they are counted, never
attributed — except those a scenario rule at the gateway made (``match.hop: gateway``, e.g.
FM-07's ``sandbox_window``), which name their rule in ``injected_fault`` like a mock's fault.
Three tables follow: failure modes, rules, province × provider. Percentiles are nearest-rank.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import datetime
from itertools import chain

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from contracts.exchange import OUTCOME_OK, ExchangeRecord, parse_injected_faults
from contracts.gateway import Run
from contracts.hops import HopRecord
from contracts.provinces import PROVINCES
from mock_services.dossiers import VIETNAM_TZ
from mock_services.fault_specs import Rule
from mock_services.scenarios import Scenario
from ndxp_sim.failure_modes import (
    CONTRACT_FAILURE,
    CONTRACT_FAILURE_MODE,
    FAILURE_MODES,
    FAULT_KIND_FAILURE_MODE,
    OUTCOME_FAILURE_MODE,
    cited_rows,
    format_rows,
    kind_class,
)
from ndxp_sim.report_hops import FailureOrigin, Origins, as_exchange

_TIMEOUT = "upstream_timeout"
_PROVINCE_NAMES = {p.code: p.name for p in PROVINCES}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RuleRow(_Model):
    rule_id: str
    failure_mode: str
    kind: str
    exchanges: int = Field(description="Exchanges this rule's fault touched.")
    inferred: int = Field(
        description="Of those, failures with no fault header (a hang cut by the gateway's "
        "timeout, a reset before the response) that only this run's matching rules explain."
    )
    failures: dict[str, int] = Field(description="The failures this rule caused, by outcome.")
    violated_fields: dict[str, int] = Field(description="The fields this rule removed.")
    provinces: list[str]
    citations: list[str] = Field(description="The rule's sources: the rows it reproduces.")


class FailureModeRow(_Model):
    failure_mode: str
    title: str
    exchanges: int = Field(description="Exchanges this failure mode touched.")
    failures: dict[str, int] = Field(
        description="Those it made fail, by outcome; empty_answer, missing_fields and "
        "stale_status are answers the gateway passed on as ok that the province cannot use."
    )
    timeout_rate: float
    p95_ms: float
    violated_fields: dict[str, int]
    rules: dict[str, int] = Field(description="Exchanges by scenario rule id.")
    provinces: list[str]
    citations: list[str] = Field(
        description="The rows it reproduces: the sources of the rules that fired in the run."
    )
    not_reproduced: str = Field(
        description="The Phụ lục V rows REPORTS.md names for this mode that no rule of the run "
        "reproduced (empty if none)."
    )


class CellRow(_Model):
    province: str
    province_name: str
    provider: str
    requests: int
    ok: int = Field(description="Exchanges that succeeded with an answer the province can use.")
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
    rules: list[RuleRow]
    cells: list[CellRow]
    origins: list[FailureOrigin] = Field(
        default=[],
        description="Where the failures arose (a route's hop, the gateway, a database), by "
        "trace id across the hops' logs and the gateway's.",
    )
    hop_logs: dict[str, int] = Field(
        default={}, description="The hops' logs read for the origins: records per hop."
    )


@dataclass(frozen=True, slots=True)
class Hit:
    """One failure mode's share of one exchange: which rule (None: no rule explains it),
    the failure it caused (None: it touched the exchange without making it fail, e.g. a
    latency under the timeout), and the fields it removed."""

    mode: str
    rule_id: str | None
    failure: str | None = None
    fields: tuple[str, ...] = ()
    inferred: bool = False


class _Rules:
    """The run's rules by id: failure mode, kind, sources, and which exchanges they match."""

    def __init__(self, run: Run | None, provinces: Mapping[str, str | None]) -> None:
        self.by_id: dict[str, Rule] = {}
        self.clock_shifted = run is not None and run.clock_at is not None
        self.provinces = provinces
        if run is not None:
            try:
                scenario = Scenario.model_validate(run.document)
            except ValidationError:
                scenario = None  # a document this version cannot read: attribute by kind
            if scenario is not None:
                self.by_id = {rule.id: rule for rule in scenario.rules}

    def failure_mode(self, kind: str, rule_id: str) -> str | None:
        rule = self.by_id.get(rule_id)
        if rule is not None and rule.failure_mode:
            return rule.failure_mode
        return FAULT_KIND_FAILURE_MODE.get(kind)

    def kind(self, rule_id: str) -> str:
        rule = self.by_id.get(rule_id)
        return rule.fault.kind if rule is not None else ""

    def sources(self, rule_id: str) -> list[str]:
        rule = self.by_id.get(rule_id)
        return list(rule.source) if rule else []

    def explaining(self, record: ExchangeRecord) -> list[Rule]:
        """The rules whose kind causes this failure and whose match covers this exchange."""
        if not record.service or not record.provider:
            return []
        operation_id = record.service.partition(".")[2]
        province = self.provinces.get(record.consumer or "")
        found = []
        for rule in self.by_id.values():
            cls = kind_class(rule.fault.kind)
            if cls is None or record.outcome not in cls.outcomes:
                continue
            if rule.match.provider != record.provider:
                continue
            match = rule.match
            if self.clock_shifted:  # the fault clock's offset is not recorded: any time fits
                match = match.model_copy(update={"during": ()})
            now = record.request_in_ts.astimezone(VIETNAM_TZ)
            if match.matches(operation_id, record.consumer, province, now):
                found.append(rule)
        return found


def _own_fields(rule: Rule | None, violations: Sequence[str]) -> tuple[str, ...]:
    """The contract violations a rule's fault explains (without its rule: all of them)."""
    return tuple(violations) if rule is None else rule.fault.explains(violations)


def attribute(record: ExchangeRecord, rules: _Rules) -> list[Hit]:
    """The failure modes of one exchange, each with the rule that explains it."""
    hits: list[Hit] = []
    failed = record.outcome != OUTCOME_OK and record.outcome in OUTCOME_FAILURE_MODE
    explained_outcome = False
    explained_fields: set[str] = set()
    for kind, rule_id in parse_injected_faults(record.injected_fault):
        mode = rules.failure_mode(kind, rule_id)
        cls = kind_class(kind)
        if mode is None or cls is None:
            continue
        rule = rules.by_id.get(rule_id)
        failure: str | None = None
        fields: tuple[str, ...] = ()
        if record.outcome in cls.outcomes:
            failure = record.outcome
            explained_outcome = True
            if rule is not None:  # a refusal it caused, flagged by the contract check
                fields = rule.fault.explains(record.contract_violations)
                explained_fields.update(fields)
        elif cls.spoils is not None and record.outcome == OUTCOME_OK:
            fields = _own_fields(rule, record.contract_violations)
            failure = cls.spoils
            explained_fields.update(fields)
        hits.append(Hit(mode, rule_id, failure, fields))
    if failed and not explained_outcome:
        candidates = rules.explaining(record)
        hits += [
            Hit(rule.failure_mode or FAULT_KIND_FAILURE_MODE[rule.fault.kind], rule.id,
                record.outcome, inferred=True)
            for rule in candidates
        ]  # fmt: skip
        if not candidates:
            hits.append(Hit(OUTCOME_FAILURE_MODE[record.outcome], None, record.outcome))
    leftover = tuple(v for v in record.contract_violations if v not in explained_fields)
    if leftover:
        hits.append(Hit(CONTRACT_FAILURE_MODE, None, CONTRACT_FAILURE, leftover))
    return hits


def build_report(
    records: Iterable[ExchangeRecord],
    *,
    provinces: Mapping[str, str | None],
    run: Run | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    hop_records: Mapping[str, Sequence[HopRecord]] | None = None,
) -> Report:
    """The report of ``records``; ``provinces`` maps consumer id → province code.

    ``hop_records`` (by hop) are the routes' hops' logs: failures that arose at a hop count
    as exchanges too (:func:`~ndxp_sim.report_hops.as_exchange`), and every failure is placed
    at its origin (:class:`~ndxp_sim.report_hops.Origins`).
    """
    hop_records = hop_records or {}
    origins = Origins(provinces)
    at_hops = [
        exchange
        for logged in hop_records.values()
        for hop in logged
        if (exchange := as_exchange(hop)) is not None
    ]
    rules = _Rules(run, provinces)
    outcomes: Counter[str] = Counter()
    by_mode: dict[str, _Tally] = defaultdict(_Tally)
    by_rule: dict[str, _Tally] = defaultdict(_Tally)
    by_cell: dict[tuple[str, str], _Tally] = defaultdict(_Tally)
    total = 0
    for record in chain(map(origins.see, records), at_hops):
        total += 1
        outcomes[record.outcome] += 1
        province = provinces.get(record.consumer or "") or "-"
        hits = attribute(record, rules)
        for mode in {hit.mode for hit in hits}:
            by_mode[mode].add(record, province, [hit for hit in hits if hit.mode == mode])
        for rule_id in {hit.rule_id for hit in hits if hit.rule_id is not None}:
            by_rule[rule_id].add(record, province, [hit for hit in hits if hit.rule_id == rule_id])
        if record.provider:
            by_cell[province, record.provider].add(record, province, hits, whole=True)
    return Report(
        run_id=run.run_id if run else None,
        scenario=run.scenario if run else None,
        since=since,
        until=until,
        exchanges=total,
        outcomes=dict(sorted(outcomes.items())),
        failure_modes=[_mode_row(mode, by_mode[mode], rules) for mode in sorted(by_mode)],
        rules=[_rule_row(rule_id, by_rule[rule_id], rules) for rule_id in sorted(by_rule)],
        cells=[_cell_row(cell, by_cell[cell], rules) for cell in sorted(by_cell)],
        origins=origins.rows(hop for logged in hop_records.values() for hop in logged),
        hop_logs={hop: len(logged) for hop, logged in sorted(hop_records.items())},
    )


@dataclass
class _Tally:
    """What one row (a failure mode, a rule, a cell) collected from its exchanges."""

    records: list[ExchangeRecord] = dc_field(default_factory=list)
    failures: Counter[str] = dc_field(default_factory=Counter)
    fields: Counter[str] = dc_field(default_factory=Counter)
    rules: Counter[str] = dc_field(default_factory=Counter)
    modes: set[str] = dc_field(default_factory=set)
    provinces: set[str] = dc_field(default_factory=set)
    inferred: int = 0
    ok: int = 0

    def add(
        self, record: ExchangeRecord, province: str, hits: list[Hit], *, whole: bool = False
    ) -> None:
        """Count ``record`` once; ``whole``: its own outcome counts too (a cell's view)."""
        self.records.append(record)
        self.provinces.add(province)
        failure = next((hit.failure for hit in hits if hit.failure is not None), None)
        if whole and record.outcome != OUTCOME_OK:
            failure = record.outcome
        if failure is not None:
            self.failures[failure] += 1
        elif record.outcome == OUTCOME_OK:
            self.ok += 1
        self.fields.update({f for hit in hits for f in hit.fields})
        self.rules.update({hit.rule_id for hit in hits if hit.rule_id is not None})
        self.modes.update(hit.mode for hit in hits)
        self.inferred += any(hit.inferred for hit in hits)

    @property
    def timeout_rate(self) -> float:
        n = len(self.records)
        return round(self.failures[_TIMEOUT] / n, 4) if n else 0.0

    @property
    def p95_ms(self) -> float:
        return percentile([r.duration_ms for r in self.records], 95)


def _sources(rule_ids: Iterable[str], rules: _Rules) -> list[str]:
    return sorted({source for rule_id in rule_ids for source in rules.sources(rule_id)})


def _mode_row(mode: str, tally: _Tally, rules: _Rules) -> FailureModeRow:
    known = FAILURE_MODES.get(mode)
    citations = _sources(tally.rules, rules)
    missing = set(known.rows) - cited_rows(citations) if known else set()
    return FailureModeRow(
        failure_mode=mode,
        title=known.title if known else "",
        exchanges=len(tally.records),
        failures=dict(sorted(tally.failures.items())),
        timeout_rate=tally.timeout_rate,
        p95_ms=tally.p95_ms,
        violated_fields=dict(sorted(tally.fields.items())),
        rules=dict(sorted(tally.rules.items())),
        provinces=sorted(tally.provinces),
        citations=citations,
        not_reproduced=format_rows(missing),
    )


def _rule_row(rule_id: str, tally: _Tally, rules: _Rules) -> RuleRow:
    return RuleRow(
        rule_id=rule_id,
        failure_mode=", ".join(sorted(tally.modes)),
        kind=rules.kind(rule_id),
        exchanges=len(tally.records),
        inferred=tally.inferred,
        failures=dict(sorted(tally.failures.items())),
        violated_fields=dict(sorted(tally.fields.items())),
        provinces=sorted(tally.provinces),
        citations=rules.sources(rule_id),
    )


def _cell_row(cell: tuple[str, str], tally: _Tally, rules: _Rules) -> CellRow:
    province, provider = cell
    return CellRow(
        province=province,
        province_name=_PROVINCE_NAMES.get(province, "-"),
        provider=provider,
        requests=len(tally.records),
        ok=tally.ok,
        failures=dict(sorted(tally.failures.items())),
        timeout_rate=tally.timeout_rate,
        p95_ms=tally.p95_ms,
        violated_fields=dict(sorted(tally.fields.items())),
        failure_modes=sorted(tally.modes),
        citations=_sources(tally.rules, rules),
    )


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (0 for no values), rounded to 0.1 ms."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return round(ordered[rank - 1], 1)
