"""Fault kinds that the gateway applies itself (``match.hop: gateway``), not a database.

``sandbox_window`` (FM-07, row 27: Cao Bằng could test only "ngoài giờ hành chính, ngày
nghỉ"): while the rule's ``match.during`` holds, the gateway refuses the matching consumers'
calls with its own 403 ``sandbox_window_closed`` and a ``Retry-After`` (when that window
ends) — the same refusal as a consumer's sandbox window set with the admin API
(:mod:`gateway.consumers`), but named by the rule in the exchange's ``injected_fault``, so the
report attributes it to the rule and its row. The mocks and the routes' hops never see these
rules (:meth:`mock_services.scenarios.Scenario.rules_for` takes a hop's own).
"""

from __future__ import annotations

from typing import ClassVar, Literal

from mock_services.fault_base import FaultKind, Phase

SANDBOX_WINDOW_CLOSED = "sandbox_window_closed"


class SandboxWindow(FaultKind):
    """The gateway refuses the rule's consumers while ``match.during`` holds (their testing
    is allowed only outside it)."""

    PHASE: ClassVar[Phase] = "gateway"
    failure_mode: ClassVar[str] = "FM-07"
    outcomes: ClassVar[frozenset[str]] = frozenset({SANDBOX_WINDOW_CLOSED})
    sees: ClassVar[str] = (
        "403 `sandbox_window_closed` from the gateway while `match.during` holds, with "
        "Retry-After (when that window ends); the database is never called"
    )

    kind: Literal["sandbox_window"]


GATEWAY_KINDS = frozenset({"sandbox_window"})

__all__ = ["GATEWAY_KINDS", "SANDBOX_WINDOW_CLOSED", "SandboxWindow"]
