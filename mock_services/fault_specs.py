"""What a fault rule is (*quy tắc lỗi*): where it matches and what it does — frozen values.

A scenario file (:mod:`mock_services.scenarios`) lists rules; the engine
(:mod:`mock_services.faults`) applies them. A rule is::

    id: slow-business-registry      # unique in the scenario; named in X-NDXP-Injected-Fault
    failure_mode: FM-01             # the failure mode of REPORTS.md it reproduces
    source: ["003 Phụ lục V row 20 (Thanh Hóa)"]
    match:                          # every condition must hold
      provider: business-registry
      operations: [list_enterprise_dossiers]   # empty: every operation of the provider
      provinces: ["038"]            # X-NDXP-Province, forwarded by the gateway; empty: any
      consumers: [onestop-thanh-hoa]   # X-NDXP-Consumer; empty: any
      during: [{days: [mon, tue, wed, thu, fri], start: "08:00", end: "11:30"}]  # local time
      hop: database                 # where it strikes: database (default), lgsp, vdxp, gateway
    probability: 0.3                # per matching request (per file / registration: see below)
    fault: {kind: latency, distribution: lognormal, p50_ms: 3000, p95_ms: 32000}

The fault kinds — ``latency``, ``hang``, ``http_error`` (5xx), ``unavailable`` (503 +
Retry-After), ``reset`` (before the response or during its body), ``empty_body``,
``empty_list``, ``drop_fields``, ``dangling_file``, ``stale_status``, ``maintenance``,
``overload``, and ``sandbox_window`` that the gateway applies (``hop: gateway``) — are classes
of :mod:`mock_services.fault_kinds`, each applying itself; they
are re-exported here. Times of day are local to Asia/Ho_Chi_Minh (UTC+7, no daylight saving
since 1975).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field, field_validator, model_validator

from contracts.catalogue import Provider
from mock_services.failure_modes import unknown_failure_mode
from mock_services.fault_gateway import GATEWAY_KINDS
from mock_services.fault_kinds import (
    FAULT_KINDS,
    KEYED_KINDS,
    KIND_CLASSES,
    DanglingFile,
    DropFields,
    EmptyBody,
    EmptyList,
    Fault,
    FaultKind,
    Hang,
    HttpError,
    Latency,
    Maintenance,
    Overload,
    Reset,
    StaleStatus,
    Unavailable,
)
from mock_services.fault_values import CLOCK_TIME_PATTERN, WEEKDAYS, Spec, Weekday, Window

RULE_ID_PATTERN = r"^[a-z0-9][a-z0-9-]{0,62}$"

Hop = Literal["database", "lgsp", "vdxp", "gateway"]
HOPS: tuple[Hop, ...] = ("database", "lgsp", "vdxp", "gateway")
# What a hop in front of the gateway can do to a call: hold it, fail it, drop the connection.
# Kinds that rewrite a database's records (keyed by its file or dossier ids) stay with it.
HOP_KINDS = frozenset({"latency", "hang", "http_error", "unavailable", "reset", "maintenance",
                       "overload"})  # fmt: skip


class Match(Spec):
    """Which requests a rule concerns; every condition given must hold."""

    provider: Provider = Field(description="The mock national database the rule applies to.")
    operations: tuple[str, ...] = Field(
        default=(), description="Operation ids of the catalogue; empty: all of the provider's."
    )
    provinces: tuple[str, ...] = Field(
        default=(), description="Calling provinces (X-NDXP-Province), 3-digit codes; empty: any."
    )
    consumers: tuple[str, ...] = Field(
        default=(), description="Calling systems (X-NDXP-Consumer); empty: any."
    )
    during: tuple[Window, ...] = Field(
        default=(), description="Local-time windows when the rule is live; empty: always."
    )
    hop: Hop = Field(
        default="database",
        description="Where the fault strikes: the national database (its mock), a route's "
        "hop in front of the gateway — the provincial LGSP or VDXP — on calls for this "
        "provider's operations (FM-10), or the gateway itself (`sandbox_window`, FM-07).",
    )

    def matches(
        self, operation_id: str, consumer: str | None, province: str | None, now: datetime
    ) -> bool:
        return (
            (not self.operations or operation_id in self.operations)
            and (not self.provinces or province in self.provinces)
            and (not self.consumers or consumer in self.consumers)
            and (not self.during or any(window.contains(now) for window in self.during))
        )


class Rule(Spec):
    """One fault rule of a scenario."""

    id: str = Field(pattern=RULE_ID_PATTERN, description="Unique in its scenario.")
    description: str | None = None
    failure_mode: str | None = Field(
        default=None,
        pattern=r"^FM-\d{2}$",
        description="Failure mode of REPORTS.md, e.g. FM-01 (mock_services.failure_modes).",
    )
    source: tuple[str, ...] = Field(default=(), description="Report rows this rule reproduces.")
    match: Match
    probability: float = Field(default=1.0, ge=0.0, le=1.0)
    fault: Fault

    @field_validator("failure_mode")
    @classmethod
    def _in_the_catalogue(cls, mode: str | None) -> str | None:
        why = unknown_failure_mode(mode) if mode is not None else None
        if why is not None:
            raise ValueError(why)
        return mode

    @model_validator(mode="after")
    def _a_hop_fails_calls_not_records(self) -> Rule:
        at_gateway = self.match.hop == "gateway"
        if at_gateway != (self.fault.kind in GATEWAY_KINDS):
            raise ValueError(
                f"the gateway applies only {', '.join(sorted(GATEWAY_KINDS))}, and only with "
                f"match.hop: gateway (this rule: {self.fault.kind} at the {self.match.hop} hop)"
            )
        if at_gateway and (not self.match.during or self.probability != 1.0):
            raise ValueError(
                "a sandbox_window rule is a policy, not a draw: give match.during (when the "
                "gateway refuses the calls) and leave probability at 1"
            )
        if self.match.hop not in ("database", "gateway") and self.fault.kind not in HOP_KINDS:
            raise ValueError(
                f"a {self.fault.kind} rule changes a database's records; at the "
                f"{self.match.hop} hop use one of {', '.join(sorted(HOP_KINDS))}"
            )
        return self

    @model_validator(mode="after")
    def _capacity_is_not_a_coin(self) -> Rule:
        if not self.fault.drawn and self.probability != 1.0:
            raise ValueError("an overload rule is a capacity, not a draw: leave probability at 1")
        return self


__all__ = [
    "CLOCK_TIME_PATTERN",
    "FAULT_KINDS",
    "HOPS",
    "HOP_KINDS",
    "KEYED_KINDS",
    "KIND_CLASSES",
    "RULE_ID_PATTERN",
    "WEEKDAYS",
    "DanglingFile",
    "DropFields",
    "EmptyBody",
    "EmptyList",
    "Fault",
    "FaultKind",
    "Hang",
    "Hop",
    "HttpError",
    "Latency",
    "Maintenance",
    "Match",
    "Overload",
    "Reset",
    "Rule",
    "Spec",
    "StaleStatus",
    "Unavailable",
    "Weekday",
    "Window",
]
