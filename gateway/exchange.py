"""One exchange's facts as they are gathered, the finished record, and who observes it.

An :class:`Exchange` collects what the proxy learns while it works (who called, which route,
when the provider answered, the outcome); :meth:`Exchange.to_record` turns it into the
:class:`~contracts.exchange.ExchangeRecord` once the answer is ready. The record is then
handed to every *observer* — the exchange log, the metrics, the log line, and whatever else
is appended to ``Runtime.observers`` — in one place (:func:`notify`), so what is stored,
counted and logged can never disagree.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog

from contracts.exchange import OUTCOME_OK, OUTCOME_UPSTREAM_REJECTED, ExchangeRecord
from gateway import ids
from gateway.errors import GatewayInternalError
from gateway.exchange_log import mask_personal_ids
from gateway.registry import ConsumerSpec
from gateway.routing import Route

Observer = Callable[[ExchangeRecord], None]
"""Called once per finished exchange, in the request's task: must be quick and not block."""

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_LEVELS = {"info": 20, "warning": 30, "error": 40}
_log = structlog.get_logger("ndxp.gateway.exchange")


@dataclass(slots=True)
class Exchange:
    """What one exchange has gathered so far; becomes the :class:`ExchangeRecord`."""

    method: str
    exchange_id: str = field(default_factory=ids.exchange_id)
    trace_id: str = ""
    trace_flags: str = "01"
    request_in: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)
    consumer: ConsumerSpec | None = None
    route: Route | None = None
    request_size: int = 0
    request_out: datetime | None = None
    response_in: datetime | None = None
    upstream_s: float | None = None
    outcome: str = OUTCOME_OK
    detail: str | None = None
    injected_fault: str | None = None
    violations: list[str] = field(default_factory=list)
    quota_remaining: int | None = None

    def continue_trace(self, traceparent: str | None) -> None:
        """Join the province's W3C trace if it sent a valid ``traceparent``; else start one."""
        found = _TRACEPARENT.match(traceparent) if traceparent else None
        if found and found[1] != "0" * 32 and found[2] != "0" * 16:
            self.trace_id, self.trace_flags = found[1], found[3]
        else:
            self.trace_id = ids.trace_id()

    def traceparent(self) -> str:
        """The ``traceparent`` for the provider: this trace, a new span."""
        return f"00-{self.trace_id}-{ids.span_id()}-{self.trace_flags}"

    def to_record(self, status_code: int, response_size: int) -> ExchangeRecord:
        """The finished record; ``detail`` has its personal ids masked."""
        route = self.route
        succeeded = self.outcome == OUTCOME_OK
        # Built from values of the right types only: no validation pass on the hot path.
        return ExchangeRecord.model_construct(
            exchange_id=self.exchange_id,
            trace_id=self.trace_id,
            consumer=self.consumer.id if self.consumer else None,
            provider=route.provider if route else None,
            service=route.service if route else None,
            method=self.method,
            path_template=route.path_template if route else None,
            status_code=status_code,
            outcome=self.outcome,
            succeeded=succeeded,
            fault_code=None if succeeded else self.outcome,
            injected_fault=self.injected_fault,
            request_in_ts=self.request_in,
            request_out_ts=self.request_out,
            response_in_ts=self.response_in,
            response_out_ts=datetime.now(UTC),
            duration_ms=(time.perf_counter() - self.started) * 1000.0,
            upstream_ms=None if self.upstream_s is None else self.upstream_s * 1000.0,
            request_size=self.request_size,
            response_size=response_size,
            quota_remaining=self.quota_remaining,
            contract_violations=self.violations,
            detail=mask_personal_ids(self.detail) if self.detail else None,
        )


def notify(observers: Iterable[Observer], record: ExchangeRecord) -> None:
    """Hand ``record`` to every observer; one that fails is logged and skipped, never fatal."""
    for observer in observers:
        try:
            observer(record)
        except Exception:
            _log.exception("exchange_observer_failed", observer=repr(observer))


def log_line(consumers: Sequence[ConsumerSpec]) -> Observer:
    """The observer that writes the canonical JSON log line of each exchange."""
    provinces: Mapping[str, str | None] = {c.id: c.province for c in consumers}

    def write(record: ExchangeRecord) -> None:
        outcome = record.outcome
        if record.succeeded or outcome == OUTCOME_UPSTREAM_REJECTED:
            level = "info"
        elif outcome == GatewayInternalError.code:
            level = "error"
        else:
            level = "warning"
        _log.log(
            _LEVELS[level],
            "exchange",
            exchange_id=record.exchange_id,
            trace_id=record.trace_id,
            consumer=record.consumer,
            province=provinces.get(record.consumer) if record.consumer else None,
            provider=record.provider,
            service=record.service,
            method=record.method,
            path_template=record.path_template,
            status_code=record.status_code,
            outcome=outcome,
            duration_ms=round(record.duration_ms, 3),
            upstream_ms=None if record.upstream_ms is None else round(record.upstream_ms, 3),
            quota_remaining=record.quota_remaining,
            contract_violations=record.contract_violations or None,
            injected_fault=record.injected_fault,
            detail=record.detail,
        )

    return write
