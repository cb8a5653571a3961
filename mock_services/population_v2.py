"""Mock population database, contract v2 (:mod:`contracts.population_v2`) at ``/v2``.

The same citizens as v1, in v2's shape: each answer is v1's record converted, so both versions
always agree on the data and differ only where the contract does.
"""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import APIRouter, Request

from contracts.population import CitizenVerification as CitizenVerificationV1
from contracts.population import ParentInfo as ParentInfoV1
from contracts.population_v2 import (
    Citizen,
    CitizenVerification,
    Household,
    HouseholdVerification,
    LegacyIdMapping,
    ParentInfo,
    VerificationResult,
    partial_date,
)
from mock_services import population as v1
from mock_services.openapi import Example
from mock_services.people import UnknownCitizen, keyed_random
from mock_services.service import OperationRoute, contract_route, not_found

router = APIRouter(prefix="/v2", route_class=OperationRoute, tags=["population v2"])
PROVIDER = v1.PROVIDER


def _parent(parent: ParentInfoV1 | None) -> ParentInfo | None:
    if parent is None:
        return None
    return ParentInfo(
        personal_id=parent.personal_id,
        full_name=parent.full_name,
        date_of_birth=partial_date(parent.date_of_birth),
    )


def citizen_record_v2(seed: int, personal_id: str) -> Citizen:
    """v1's record in v2's shape; :class:`UnknownCitizen` if there is none."""
    record = v1.citizen_record(seed, personal_id)
    level = 2 if keyed_random(seed, "vneid", personal_id).random() < 0.7 else None
    data = record.model_dump(exclude={"id_card_issue_date", "father", "mother", "household"})
    return Citizen(
        **{**data, "date_of_birth": partial_date(record.date_of_birth)},
        id_card_issued_on=record.id_card_issue_date,
        household=Household(**record.household.model_dump()),
        father=_parent(record.father),
        mother=_parent(record.mother),
        electronic_id_level=level if record.id_card_issue_date is not None else None,
    )


@contract_route(router, PROVIDER, "get_citizen_v2", problems=(404, 422))
def get_citizen(request: Request, personal_id: v1.PersonalIdPath) -> Citizen:
    """The 20 shared fields of one citizen, v2."""
    try:
        return citizen_record_v2(request.app.state.seed, personal_id)
    except UnknownCitizen:
        raise not_found(f"No citizen has personal id {personal_id}.") from None


def _verify(seed: int, claim: CitizenVerification) -> VerificationResult:
    found = v1.verify_citizen(
        seed, CitizenVerificationV1(**claim.model_dump(exclude={"procedure_code"}))
    )
    return VerificationResult(match=found.match)


@contract_route(router, PROVIDER, "verify_citizen_v2", problems=(422,))
def post_verify_citizen(request: Request, claim: CitizenVerification) -> VerificationResult:
    """Match or no match for id + full name + date of birth, for a stated procedure."""
    return _verify(request.app.state.seed, claim)


@contract_route(router, PROVIDER, "verify_household_v2", problems=(422,))
def post_verify_household(request: Request, claim: HouseholdVerification) -> VerificationResult:
    """Is ``personal_id`` a member of the household headed by ``head_personal_id``?"""
    return v1.verify_household(request.app.state.seed, claim)


@contract_route(router, PROVIDER, "resolve_legacy_id_v2", problems=(404, 422))
def get_legacy_id(request: Request, old_id_number: v1.OldIdPath) -> LegacyIdMapping:
    """The 12-digit personal id that replaced an old 9-digit ID (CMND → CCCD)."""
    return v1.get_legacy_id(request, old_id_number)


PROCEDURE_CODE = "1.001612"  # birth registration (đăng ký khai sinh), a procedure that verifies


def examples_v2(seed: int, v1_examples: Mapping[str, Example]) -> dict[str, Example]:
    """v1's examples, converted: the same citizen and calls through v2."""
    lookup = v1_examples["get_citizen"]
    claim_v1 = v1_examples["verify_citizen"].body
    assert isinstance(claim_v1, CitizenVerificationV1)
    claim = CitizenVerification(**claim_v1.model_dump(), procedure_code=PROCEDURE_CODE)
    return {
        "get_citizen_v2": Example(
            lookup.summary,
            lookup.path_params,
            response=citizen_record_v2(seed, lookup.path_params["personal_id"]),
        ),
        "verify_citizen_v2": Example(
            "the right name and date of birth, for a birth registration",
            body=claim,
            response=_verify(seed, claim),
        ),
        "verify_household_v2": v1_examples["verify_household"],
        "resolve_legacy_id_v2": v1_examples["resolve_legacy_id"],
    }
