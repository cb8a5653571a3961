"""The scenario's rules that strike at the gateway itself (``match.hop: gateway``).

Today one kind: ``sandbox_window`` (FM-07, row 27 — testing allowed only outside office
hours). While such a rule's ``match.during`` holds on the simulated clock, the gateway refuses
the matching consumers' calls with 403 ``sandbox_window_closed`` and a ``Retry-After`` (when
the window ends), before quota admission, like a sandbox window set on the consumer
(:mod:`gateway.consumers`); the exchange's ``injected_fault`` names the rule
(``sandbox_window:<rule id>``), so the report attributes the refusal to it and its row.

``PUT /admin/scenario`` hands the gate its rules (:class:`GateRule`, made from the scenario by
:mod:`gateway.admin_scenarios`) and its clock; ``PUT /admin/clock`` shifts the clock (the same
simulated clock as the mocks': :class:`~ndxp_config.simclock.SimClock` at ``NDXP_TIME_SCALE``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from gateway.errors import GatewayError, SandboxWindowClosed
from gateway.registry import ConsumerSpec
from gateway.routing import Route
from ndxp_config.simclock import SimClock, retry_after


@dataclass(frozen=True, slots=True)
class GateRule:
    """One scenario rule the gateway applies: who it refuses and until when."""

    rule_id: str
    fault: str  # the exchange's injected_fault: "<kind>:<rule id>"
    provider: str
    during: str  # its windows, described ("mon–fri 07:30–17:30")
    # Whether it refuses now: (operation id, consumer id, province, now) → bool.
    applies: Callable[[str, str, str | None, datetime], bool]
    ends_at: Callable[[datetime], datetime]  # the end of the window holding ``now``


class ScenarioGate:
    """The active scenario's gateway rules and the simulated clock they read."""

    def __init__(self, time_scale: float = 1.0) -> None:
        self._clock = SimClock(time_scale)
        self._rules: tuple[GateRule, ...] = ()

    def set_rules(self, rules: Sequence[GateRule]) -> None:
        self._rules = tuple(rules)

    def set_clock(self, at: datetime | None) -> None:
        self._clock.set(at)

    def check(self, consumer: ConsumerSpec, route: Route) -> tuple[str, GatewayError] | None:
        """The refusal of this call by the first gateway rule (file order) that applies now —
        the exchange's ``injected_fault`` and the error to answer —, or None: it goes on."""
        if not self._rules:
            return None
        now = self._clock.now()
        for rule in self._rules:
            if rule.provider != route.provider:
                continue
            if rule.applies(route.operation_id, consumer.id, consumer.province, now):
                seconds = (rule.ends_at(now) - now).total_seconds()
                error = SandboxWindowClosed(
                    f"{consumer.id} may call {route.provider} only outside {rule.during} "
                    f"(scenario rule {rule.rule_id})",
                    headers={"Retry-After": str(max(1, retry_after(seconds, self._clock.scale)))},
                )
                return rule.fault, error
        return None


__all__ = ["GateRule", "ScenarioGate"]
