"""The mock provincial one-stop systems' flows (*quy trình liên thông*): five end-to-end runs
through NDXP, each returning a :class:`FlowResult` and logging one ``flow_outcome`` line.

- ``licence_renewal`` — :mod:`connectors.flows.licence`
- ``birth_registration`` — :mod:`connectors.flows.birth`
- ``business_sync`` — :mod:`connectors.flows.business`
- ``household_verification`` — :mod:`connectors.flows.household`
- ``criminal_record_certificate`` — :mod:`connectors.flows.criminal_record`

Each is ``async def flow(ndxp, system, *, rng=None, seed=0, options=None, listener=None)``:
an :class:`~connectors.client.NdxpClient` whose ``on_event`` is (or calls)
:func:`record_event`, a :class:`~connectors.provinces.OneStopSystem`, and a seeded RNG.
"""

from __future__ import annotations

from collections.abc import Mapping

from connectors.flows.birth import birth_registration
from connectors.flows.business import business_sync
from connectors.flows.common import FlowFunction, FlowOptions, mask
from connectors.flows.criminal_record import criminal_record_certificate
from connectors.flows.household import household_verification
from connectors.flows.licence import licence_renewal
from connectors.flows.recording import (
    FlowResult,
    FlowRun,
    Outcome,
    Step,
    StepListener,
    record_event,
)
from connectors.flows.scenario import ScenarioSwitchError, switch_scenario, switch_scenario_for
from connectors.provinces import FlowName

FLOWS: Mapping[FlowName, FlowFunction] = {
    "licence_renewal": licence_renewal,
    "birth_registration": birth_registration,
    "business_sync": business_sync,
    "household_verification": household_verification,
    "criminal_record_certificate": criminal_record_certificate,
}

__all__ = [
    "FLOWS",
    "FlowFunction",
    "FlowOptions",
    "FlowResult",
    "FlowRun",
    "Outcome",
    "ScenarioSwitchError",
    "Step",
    "StepListener",
    "birth_registration",
    "business_sync",
    "criminal_record_certificate",
    "household_verification",
    "licence_renewal",
    "mask",
    "record_event",
    "switch_scenario",
    "switch_scenario_for",
]
