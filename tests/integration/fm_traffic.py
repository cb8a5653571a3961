"""Traffic that gives every rule of a scenario its chance to fire, read from the rule itself —
so a scenario file added tomorrow (a new failure mode, a new database, a new route hop) is
driven without a change here.

For each rule: a one-stop system of a province the rule matches (or Thanh Hóa), reaching NDXP
by its configured route (direct, its LGSP, VDXP: :func:`connectors.routes.route_of`) through
the SDK; every operation the rule names (all of the provider's when it names none) called
with its documented example, often enough for the rule's probability; a burst of concurrent
calls for a capacity (``overload``); and the flows that use the rule's database, with several
seeds, so that per-record rules (a file, a dossier) meet many records. The fault clock is set
inside the first window any rule names (``match.during``, a maintenance window).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import Mapping
from datetime import datetime, timedelta
from importlib import import_module
from typing import Any

from connectors.client import NdxpClient
from connectors.errors import NdxpError
from connectors.flows import FLOWS, FlowOptions
from connectors.provinces import FlowName, OneStopSystem, one_stop_systems
from connectors.routes import route_of
from contracts.catalogue import Operation, operations_of
from mock_services.fault_specs import Rule
from mock_services.fault_values import WEEKDAYS, Window, clock_minutes
from mock_services.openapi import Example
from mock_services.scenarios import Scenario
from ndxp_config.settings import Settings
from ndxp_config.simclock import VIETNAM_TZ

SEED = 2024
DEFAULT_PROVINCE = "038"  # Thanh Hóa
MONDAY = datetime(2024, 6, 3, tzinfo=VIETNAM_TZ)
BURST = 24
# The flows that use each database (a database without one is driven by its operations only).
FLOWS_OF: Mapping[str, tuple[FlowName, ...]] = {
    "population": ("household_verification",),
    "business-registry": ("business_sync",),
    "driver-licence": ("licence_renewal",),
    "civil-registry": ("birth_registration",),
    "judicial-records": ("criminal_record_certificate",),
}
FLOW_SEEDS = range(4)
OPTIONS = FlowOptions(max_wait_s=20.0, max_polls=8, max_poll_s=1.0)


def moment(scenario: Scenario) -> str | None:
    """A local time inside the first window a rule names (a minute after it opens), or None."""
    for rule in scenario.rules:
        windows: tuple[Window, ...] = rule.match.during or getattr(rule.fault, "windows", ())
        if windows:
            window = windows[0]
            day = MONDAY + timedelta(days=WEEKDAYS.index(window.days[0]))
            return (day + timedelta(minutes=clock_minutes(window.start) + 1)).isoformat()
    return None


def _examples(provider: str) -> Mapping[str, Example]:
    """The provider mock's documented examples (every mock module has ``examples(seed)``)."""
    module = import_module(f"mock_services.{provider.replace('-', '_')}")
    found: Mapping[str, Example] = module.examples(SEED)
    return found


async def _call(ndxp: NdxpClient, op: Operation, example: Example) -> None:
    """One call of ``op`` with its example; what the gateway answers is the report's business."""
    with contextlib.suppress(NdxpError):
        if op.response_model is None:
            await ndxp.call_bytes(op, example.path_params)
            return
        model: Any = op.load_response_model()
        await ndxp.call(op, model, example.path_params, query=example.query, body=example.body)


def _client(settings: Settings, system: OneStopSystem) -> NdxpClient:
    route = system.route or route_of(settings, system.province.code)
    return NdxpClient(
        route.base_url,
        system.client_id,
        system.client_secret,
        max_attempts=1,  # every failure reaches the log once, not hidden by a retry
        breaker_failures=10**6,  # and is never skipped by an open breaker
        timeout=60.0,
        **route.client_options(),
    )


def _systems_for(rule: Rule, systems: Mapping[str, OneStopSystem]) -> list[OneStopSystem]:
    if rule.match.consumers:
        return [s for s in systems.values() if s.consumer_id in rule.match.consumers][:2]
    codes = rule.match.provinces or (DEFAULT_PROVINCE,)
    return [systems[code] for code in codes[:2] if code in systems]


async def _drive_rule(settings: Settings, rule: Rule, system: OneStopSystem) -> int:
    """Calls for one rule from one system; returns how many operations had an example."""
    provider = rule.match.provider
    examples = _examples(provider)
    wanted = set(rule.match.operations)
    ops = [
        op
        for op in operations_of(provider)
        if (not wanted or op.operation_id in wanted) and op.operation_id in examples
    ]
    fault = rule.fault
    repeats = 1 if fault.keyed or not fault.drawn else min(20, math.ceil(4 / rule.probability))
    async with _client(settings, system) as ndxp:
        for _ in range(repeats):
            for op in ops:
                await _call(ndxp, op, examples[op.operation_id])
        if not fault.drawn and ops:  # a capacity shows under concurrency only
            first = ops[0]
            await asyncio.gather(
                *(_call(ndxp, first, examples[first.operation_id]) for _ in range(BURST))
            )
        for flow in FLOWS_OF.get(provider, ()):
            for seed in FLOW_SEEDS:
                with contextlib.suppress(NdxpError):
                    await FLOWS[flow](ndxp, system, seed=seed, options=OPTIONS)
    return len(ops)


async def drive(settings: Settings, scenario: Scenario) -> list[str]:
    """Traffic for every rule of ``scenario``; returns the rules it could not drive (why)."""
    systems = one_stop_systems(settings)
    undriven: list[str] = []
    for rule in scenario.rules:
        chosen = _systems_for(rule, systems)
        if not chosen:
            undriven.append(f"{rule.id}: no one-stop system matches its provinces/consumers")
            continue
        driven = [await _drive_rule(settings, rule, system) for system in chosen]
        if not any(driven) and rule.match.provider not in FLOWS_OF:
            undriven.append(f"{rule.id}: no documented example of its operations, no flow")
    return undriven


__all__ = ["drive", "moment"]
