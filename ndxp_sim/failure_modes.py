"""How the report maps what the gateway saw to the failure modes (FM-xx) of REPORTS.md.

The catalogue itself (ids, titles, the Phụ lục V rows naming each) lives with the scenarios
that cite it, in :mod:`mock_services.failure_modes`; each fault kind declares its own default
failure mode, the outcomes it causes and what it spoils in an answer
(:class:`mock_services.fault_specs.FaultKind`). The outcome table here attributes what the
gateway saw without any fault header (a hang cut by the gateway's timeout, a reset before the
response, a real provider error) when no rule of the run can explain it.
"""

from __future__ import annotations

from mock_services.failure_modes import FAILURE_MODES, FailureMode, cited_rows, format_rows
from mock_services.fault_specs import KIND_CLASSES, FaultKind

FAULT_KIND_FAILURE_MODE: dict[str, str] = {
    kind: cls.failure_mode for kind, cls in KIND_CLASSES.items()
}

OUTCOME_FAILURE_MODE: dict[str, str] = {
    "upstream_timeout": "FM-01",
    "upstream_reset": "FM-02",
    "upstream_unreachable": "FM-02",
    "upstream_error": "FM-02",
    "upstream_overloaded": "FM-02",
    "provider_maintenance": "FM-11",
}

# Failures the report counts although the gateway passed the answer on as ``ok``.
CONTRACT_FAILURE = "contract_violation"
CONTRACT_FAILURE_MODE = "FM-04"


def kind_class(kind: str) -> type[FaultKind] | None:
    return KIND_CLASSES.get(kind)


__all__ = [
    "CONTRACT_FAILURE",
    "CONTRACT_FAILURE_MODE",
    "FAILURE_MODES",
    "FAULT_KIND_FAILURE_MODE",
    "OUTCOME_FAILURE_MODE",
    "FailureMode",
    "cited_rows",
    "format_rows",
    "kind_class",
]
