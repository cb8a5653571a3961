"""Where each failure arose, by trace id across the hops' logs (FM-10; rows 43, 44, 48, 49 ask
"which system did the error come from?").

A call goes province → [LGSP or VDXP] → gateway → national database. Each hop logs its own
record (:class:`~contracts.hops.HopRecord`) with the W3C trace id it sent on; the gateway's
record of the same call carries that trace id too. For each failed call:

- the hop's record says the failure arose *at the hop* (a fault injected there, NDXP
  unreachable from it, a request VDXP cannot carry) → that hop;
- else the gateway's record of the trace decides: a fault the database injected, or the
  database failing, timing out, refusing (``upstream_*``, ``provider_maintenance``), or an
  answer breaking its contract → the *database* (named); a refusal the gateway makes itself
  (401, 403, 404, 429, 5xx of its own) → the *gateway*.

A failure at a hop never reaches the gateway's log; :func:`as_exchange` turns its record into
the exchange the report's other tables count (with the outcome the gateway would have logged
for the same fault at a database, so its rule's failure mode explains it).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from contracts.exchange import OUTCOME_OK, OUTCOME_UPSTREAM_REJECTED, ExchangeRecord
from contracts.exchange import parse_injected_faults as parse_faults
from contracts.hops import (
    OUTCOME_GATEWAY_TIMEOUT,
    OUTCOME_GATEWAY_UNREACHABLE,
    OUTCOME_HOP_ERROR,
    OUTCOME_INVALID_REQUEST,
    HopRecord,
)

Where = Literal["lgsp", "vdxp", "gateway", "database"]
_SYSTEMS = {"lgsp": "provincial LGSP", "vdxp": "VDXP (X-Road route)", "gateway": "NDXP gateway"}
_EXAMPLES = 3


class FailureOrigin(BaseModel):
    """The failures that arose at one hop (one database, for ``database``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hop: Where
    system: str = Field(description="The system: the hop's name, or the database's.")
    failures: dict[str, int] = Field(description="Failed calls, by outcome.")
    routes: dict[str, int] = Field(description="The routes those calls took.")
    rules: dict[str, int] = Field(description="Scenario rules whose fault struck there.")
    provinces: list[str]
    trace_ids: list[str] = Field(description="A few trace ids, to look up in every log.")


def as_exchange(record: HopRecord) -> ExchangeRecord | None:
    """The exchange a failure at a hop stands for (None: not a failure at the hop)."""
    if record.origin != "hop":
        return None
    return ExchangeRecord(
        exchange_id=record.exchange_id,
        trace_id=record.trace_id,
        consumer=record.consumer,
        provider=record.provider,
        service=f"{record.provider}.{record.operation_id}" if record.operation_id else None,
        method=record.method,
        path_template=None,
        status_code=record.status_code,
        outcome=_outcome(record),
        succeeded=False,
        fault_code=_outcome(record),
        injected_fault=record.injected_fault,
        request_in_ts=record.request_in_ts,
        request_out_ts=None,
        response_in_ts=None,
        response_out_ts=record.request_in_ts + timedelta(milliseconds=record.duration_ms),
        duration_ms=record.duration_ms,
        upstream_ms=None,
        request_size=0,
        response_size=0,
        quota_remaining=None,
        detail=f"at the {record.hop} hop: {record.detail or record.outcome}",
    )


def _outcome(record: HopRecord) -> str:
    """The outcome the gateway logs for the same failure at a database."""
    if record.outcome == OUTCOME_GATEWAY_UNREACHABLE:
        return "upstream_unreachable"
    if record.outcome == OUTCOME_GATEWAY_TIMEOUT:
        return "upstream_timeout"
    if record.outcome == OUTCOME_INVALID_REQUEST:
        return "invalid_request"  # a refusal, as the gateway's own: nobody's failure mode
    if record.outcome == OUTCOME_HOP_ERROR:
        return "hop_internal_error"  # a bug of the simulator's hop: no failure mode either
    kinds = {kind for kind, _ in parse_faults(record.injected_fault)}
    if "maintenance" in kinds:
        return "provider_maintenance"
    if "reset" in kinds:
        return "upstream_reset"
    if record.status_code in (499, 504) or "hang" in kinds:
        return "upstream_timeout"  # the caller gave up waiting at the hop
    if record.status_code == 503:
        return "upstream_overloaded"
    return "upstream_error" if record.status_code >= 500 else OUTCOME_OK


def _at_database(record: ExchangeRecord) -> bool:
    if record.injected_fault or record.contract_violations:
        return True
    return record.outcome.startswith("upstream_") or record.outcome == "provider_maintenance"


def _failed(record: ExchangeRecord) -> bool:
    if record.outcome == OUTCOME_UPSTREAM_REJECTED:  # a 404 for an unknown id is an answer
        return bool(record.injected_fault)
    return record.outcome != OUTCOME_OK or bool(record.contract_violations)


@dataclass
class _Row:
    failures: Counter[str] = field(default_factory=Counter)
    routes: Counter[str] = field(default_factory=Counter)
    rules: Counter[str] = field(default_factory=Counter)
    provinces: set[str] = field(default_factory=set)
    trace_ids: list[str] = field(default_factory=list)


_Rows = dict[tuple[Where, str], _Row]


class Origins:
    """Collects the gateway's failed records by trace, then places every failed call."""

    def __init__(self, provinces: Mapping[str, str | None]) -> None:
        self.provinces = provinces
        self._gateway: dict[str, ExchangeRecord] = {}
        self._failed: list[ExchangeRecord] = []

    def see(self, record: ExchangeRecord) -> ExchangeRecord:
        """One record of the gateway's log (returned, to pass it on)."""
        if _failed(record):
            self._gateway[record.trace_id] = record
            self._failed.append(record)
        return record

    def rows(self, hop_records: Iterable[HopRecord]) -> list[FailureOrigin]:
        rows: _Rows = defaultdict(_Row)
        routed: set[str] = set()
        for hop in hop_records:
            routed.add(hop.trace_id)
            if hop.origin == "hop":
                outcome = _outcome(hop)
                where = (hop.hop, _SYSTEMS[hop.hop])
                self._add(rows[where], hop.hop, outcome, hop.injected_fault, hop)
            elif hop.origin == "downstream" and hop.trace_id in self._gateway:
                self._place(rows, self._gateway[hop.trace_id], hop.hop)
        for record in self._failed:
            if record.trace_id not in routed:
                self._place(rows, record, "direct")
        return [
            FailureOrigin(
                hop=where,
                system=system,
                failures=dict(sorted(row.failures.items())),
                routes=dict(sorted(row.routes.items())),
                rules=dict(sorted(row.rules.items())),
                provinces=sorted(row.provinces),
                trace_ids=row.trace_ids,
            )
            for (where, system), row in sorted(rows.items())
        ]

    def _place(
        self, rows: dict[tuple[Where, str], _Row], record: ExchangeRecord, route: str
    ) -> None:
        where: tuple[Where, str] = ("gateway", _SYSTEMS["gateway"])
        if _at_database(record):
            where = ("database", record.provider or "?")
        outcome = record.outcome if record.outcome != OUTCOME_OK else "contract_violation"
        self._add(rows[where], route, outcome, record.injected_fault, record)

    def _add(
        self,
        row: _Row,
        route: str,
        outcome: str,
        injected: str | None,
        record: HopRecord | ExchangeRecord,
    ) -> None:
        row.failures[outcome] += 1
        row.routes[route] += 1
        row.rules.update(rule_id for _, rule_id in parse_faults(injected))
        row.provinces.add(self.provinces.get(record.consumer or "") or "-")
        if len(row.trace_ids) < _EXAMPLES:
            row.trace_ids.append(record.trace_id)


__all__ = ["FailureOrigin", "Origins", "as_exchange"]
