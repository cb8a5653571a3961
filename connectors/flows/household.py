"""Household verification (*xác thực thông tin hộ gia đình*): before a residence, health-insurance
or social-assistance dossier goes on, the one-stop system looks the applicant up in the
population database and checks they belong to the household they declared.

Hops: ``population.get_citizen`` (the applicant) → ``population.verify_household`` (applicant
and the household head the record names). Degraded when the lookup comes back without fields
(FM-04) or the verification disagrees with the lookup.
"""

from __future__ import annotations

from connectors.flows.common import (
    FlowContext,
    draw_citizen,
    field_of,
    flow,
    lookup_citizen,
    mask,
)
from connectors.flows.recording import FlowAborted
from contracts.population import HouseholdVerification


async def _body(ctx: FlowContext) -> None:
    ndxp, system, rng, _, run = ctx
    applicant = draw_citizen(rng, system, born=(1950, 2004))
    citizen = await lookup_citizen(ndxp, run, applicant, "look up the applicant")
    household = field_of(citizen, "household")
    head = field_of(household, "head_personal_id")
    if head is None:
        raise FlowAborted("population.get_citizen: the record has no household to verify")
    claim = HouseholdVerification(personal_id=applicant, head_personal_id=head)
    # A verification changes nothing, so a key (which lets the SDK retry the POST) is safe.
    key = f"{system.consumer_id}-household-{rng.getrandbits(48):012x}"
    answer = await run.call(
        "population.verify_household",
        f"verify {mask(applicant)} is in the household of {mask(head)}",
        lambda: ndxp.population.verify_household(claim, idempotency_key=key),
    )
    if not field_of(answer, "match"):
        run.degrade("population.verify_household: no match for the household the record names")
    run.summary = (
        f"{mask(applicant)} verified in household {field_of(household, 'household_id')} "
        f"({field_of(household, 'relationship_to_head')})"
    )


household_verification = flow(
    "household_verification",
    _body,
    "Look an applicant up and verify their household membership through NDXP.",
)
