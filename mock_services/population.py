"""Mock population database — *CSDLQG về dân cư*: one lookup, two verifications, one mapping.

Every citizen is derived from the personal id (see :mod:`mock_services.people`). Parents and
household heads are themselves citizens, so a lookup of a parent's id returns the same name and
date of birth that the child's record shows.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, FastAPI, Path, Request

from contracts.common import PERSONAL_ID_DESCRIPTION, PERSONAL_ID_PATTERN
from contracts.population import (
    OLD_ID_DESCRIPTION,
    OLD_ID_PATTERN,
    Citizen,
    CitizenVerification,
    Household,
    HouseholdVerification,
    LegacyIdMapping,
    MaritalStatus,
    ParentInfo,
    SpouseInfo,
    VerificationResult,
)
from contracts.provinces import PROVINCES, province_by_code
from mock_services.openapi import Example
from mock_services.people import (
    REFERENCE_DATE,
    YEAR_MIN,
    Person,
    UnknownCitizen,
    citizen_at,
    citizen_index,
    keyed_int,
    keyed_random,
    parse_personal_id,
    permute,
    person,
    phone_number,
    random_citizen_id,
    street_address,
    unpermute,
)
from mock_services.service import (
    OperationRoute,
    ServiceInfo,
    add_version,
    contract_route,
    create_service_app,
    not_found,
)
from ndxp_config.settings import Settings

PROVIDER = "population"
T = TypeVar("T")
# Old 9-digit IDs exist for citizens born before 2000; they are a keyed permutation of the
# dense index of those citizens, so the mapping is exact both ways.
_LEGACY_MODULUS = 10**9
_LEGACY_LAST_YEAR = 1999
# Reference lists of the census categories (not names): ethnic groups by share, religions.
_ETHNICITIES = (("Kinh", 85), ("Tày", 2), ("Thái", 2), ("Mường", 2), ("Khmer", 1), ("Hoa", 1),
                ("Nùng", 1), ("H'Mông", 1), ("Dao", 1), ("Gia Rai", 1), ("Ê Đê", 1))  # fmt: skip
_RELIGIONS = ((None, 80), ("Phật giáo", 8), ("Công giáo", 7), ("Tin lành", 1),
              ("Cao Đài", 2), ("Phật giáo Hòa Hảo", 2))  # fmt: skip


def _weighted(rng_value: float, table: tuple[tuple[T, int], ...]) -> T:
    total = sum(weight for _, weight in table)
    point = rng_value * total
    for value, weight in table:
        point -= weight
        if point < 0:
            return value
    return table[-1][0]


def _parent(seed: int, child: Person, role: str) -> ParentInfo | None:
    rng = keyed_random(seed, role, child.personal_id)
    born = child.date_of_birth.year - rng.randint(20, 38)
    if born < YEAR_MIN:
        return None  # before the database's records begin
    same_province = rng.random() < 0.85
    pid = random_citizen_id(
        rng,
        province_code=child.province.code if same_province else None,
        gender="male" if role == "father" else "female",
        born_between=(born, born),
    )
    parent = person(seed, pid)
    return ParentInfo(
        personal_id=pid, full_name=parent.full_name, date_of_birth=parent.date_of_birth
    )


def _marital_status(seed: int, citizen: Person) -> MaritalStatus:
    if citizen.age_on(REFERENCE_DATE) < 20:
        return "single"
    roll = keyed_random(seed, "marital", citizen.personal_id).random()
    return (
        "married"
        if roll < 0.65
        else "single"
        if roll < 0.88
        else ("divorced" if roll < 0.94 else "widowed")
    )


def _spouse(seed: int, citizen: Person) -> SpouseInfo:
    rng = keyed_random(seed, "spouse", citizen.personal_id)
    year = citizen.date_of_birth.year + rng.randint(-2, 6) * (1 if citizen.gender == "male" else -1)
    pid = random_citizen_id(
        rng,
        province_code=citizen.province.code,
        gender="female" if citizen.gender == "male" else "male",
        born_between=(min(year, 2004), min(year, 2004)),
    )
    return SpouseInfo(personal_id=pid, full_name=person(seed, pid).full_name)


def household_of(seed: int, citizen: Person) -> Household:
    """Minors live in a parent's household; a married woman in her husband's; others head one."""
    head, relationship = citizen, "head"
    if citizen.age_on(REFERENCE_DATE) < 18:
        parent = _parent(seed, citizen, "father") or _parent(seed, citizen, "mother")
        if parent is not None:
            head, relationship = person(seed, parent.personal_id), "child"
    elif citizen.gender == "female" and _marital_status(seed, citizen) == "married":
        head, relationship = person(seed, _spouse(seed, citizen).personal_id), "spouse"
    household_id = f"{keyed_int(seed, 'household', head.personal_id) % 10**12:012d}"
    return Household(
        household_id=household_id,
        head_personal_id=head.personal_id,
        head_full_name=head.full_name,
        relationship_to_head=relationship,
    )


def legacy_id_of(seed: int, citizen: Person) -> str | None:
    if citizen.date_of_birth.year > _LEGACY_LAST_YEAR:
        return None
    index = _legacy_index(citizen.personal_id)
    return f"{permute(seed, 'legacy-id', index, _LEGACY_MODULUS):09d}"


def _legacy_index(personal_id: str) -> int:
    # Dense over citizens born YEAR_MIN..1999: the global index restricted to those years.
    index = citizen_index(personal_id)
    assert index is not None
    per_year = 10_000
    cohort_year, serial = divmod(index, per_year)
    cohort, year_offset = divmod(cohort_year, 2024 - YEAR_MIN + 1)
    return (cohort * (_LEGACY_LAST_YEAR - YEAR_MIN + 1) + year_offset) * per_year + serial


def personal_id_for_legacy(seed: int, old_id_number: str) -> str | None:
    index = unpermute(seed, "legacy-id", int(old_id_number), _LEGACY_MODULUS)
    years = _LEGACY_LAST_YEAR - YEAR_MIN + 1
    cohort_year, serial = divmod(index, 10_000)
    cohort, year_offset = divmod(cohort_year, years)
    if cohort >= len(PROVINCES) * 2:
        return None
    dense = (cohort * (2024 - YEAR_MIN + 1) + year_offset) * 10_000 + serial
    return citizen_at(dense)


def citizen_record(seed: int, personal_id: str) -> Citizen:
    """The full shared record of a citizen; :class:`UnknownCitizen` if there is none."""
    citizen = person(seed, personal_id)
    rng = keyed_random(seed, "record", personal_id)
    province = citizen.province
    origin = province if rng.random() < 0.7 else rng.choice(PROVINCES)
    permanent = f"{street_address(seed, 'permanent', personal_id)}, {province.full_name}"
    if rng.random() < 0.85:
        current = permanent
    else:
        elsewhere = rng.choice(PROVINCES)
        current = f"{street_address(seed, 'current', personal_id)}, {elsewhere.full_name}"
    ward = street_address(seed, "birth", personal_id).split(", ")[-1]
    marital = _marital_status(seed, citizen)
    age = citizen.age_on(REFERENCE_DATE)
    issue_date = None
    if age >= 14:
        earliest = max(date(2016, 1, 1), date(citizen.date_of_birth.year + 14, 1, 1))
        issue_date = earliest + timedelta(days=rng.randrange((date(2024, 6, 30) - earliest).days))
    return Citizen(
        personal_id=personal_id,
        full_name=citizen.full_name,
        date_of_birth=citizen.date_of_birth,
        gender=citizen.gender,
        birth_registration_place=f"UBND {ward}, {province.full_name}",
        place_of_origin=origin.full_name,
        ethnicity=_weighted(rng.random(), _ETHNICITIES),
        religion=_weighted(rng.random(), _RELIGIONS),
        nationality="Việt Nam",
        blood_type=None if rng.random() < 0.4 else rng.choice(("A", "B", "AB", "O")),
        old_id_number=legacy_id_of(seed, citizen),
        id_card_issue_date=issue_date,
        permanent_address=permanent,
        current_address=current,
        household=household_of(seed, citizen),
        father=_parent(seed, citizen, "father"),
        mother=_parent(seed, citizen, "mother"),
        spouse=_spouse(seed, citizen) if marital == "married" else None,
        marital_status=marital,
        phone=phone_number(seed, personal_id) if age >= 14 else None,
    )


def verify_citizen(seed: int, claim: CitizenVerification) -> VerificationResult:
    try:
        citizen = person(seed, claim.personal_id)
    except UnknownCitizen:
        return VerificationResult(match=False)
    same_name = " ".join(claim.full_name.split()).casefold() == citizen.full_name.casefold()
    return VerificationResult(match=same_name and claim.date_of_birth == citizen.date_of_birth)


def verify_household(seed: int, claim: HouseholdVerification) -> VerificationResult:
    try:
        household = household_of(seed, person(seed, claim.personal_id))
    except UnknownCitizen:
        return VerificationResult(match=False)
    return VerificationResult(match=household.head_personal_id == claim.head_personal_id)


def sample_ids(seed: int, province_code: str, count: int = 5) -> list[str]:
    """A few existing citizens of a province (adults first), for a first call without code."""
    rng = keyed_random(seed, "samples", province_code)
    return [
        random_citizen_id(rng, province_code=province_code, born_between=(1950, 2000))
        for _ in range(count)
    ]


PersonalIdPath = Annotated[
    str, Path(pattern=PERSONAL_ID_PATTERN, description=PERSONAL_ID_DESCRIPTION)
]
OldIdPath = Annotated[str, Path(pattern=OLD_ID_PATTERN, description=OLD_ID_DESCRIPTION)]

router = APIRouter(prefix="/v1", route_class=OperationRoute, tags=["population"])


def _links(**links: tuple[str, dict[str, str]]) -> dict[str, Any]:
    """OpenAPI links of the 200 answer: name → (operation id, parameter → expression)."""
    found = {
        name: {"operationId": op, "parameters": params} for name, (op, params) in links.items()
    }
    return {"responses": {"200": {"links": found}}}


@contract_route(
    router,
    PROVIDER,
    "get_citizen",
    problems=(404, 422),
    openapi_extra=_links(
        GetHouseholdHead=(
            "get_citizen",
            {"personal_id": "$response.body#/household/head_personal_id"},
        ),
        ResolveOldId=("resolve_legacy_id", {"old_id_number": "$response.body#/old_id_number"}),
    ),
)
def get_citizen(request: Request, personal_id: PersonalIdPath) -> Citizen:
    """The 20 shared fields of one citizen (tra cứu thông tin công dân)."""
    try:
        return citizen_record(request.app.state.seed, personal_id)
    except UnknownCitizen:
        raise not_found(f"No citizen has personal id {personal_id}.") from None


@contract_route(router, PROVIDER, "verify_citizen", problems=(422,))
def post_verify_citizen(request: Request, claim: CitizenVerification) -> VerificationResult:
    """Match or no match for id + full name + date of birth; the record is never returned."""
    return verify_citizen(request.app.state.seed, claim)


@contract_route(router, PROVIDER, "verify_household", problems=(422,))
def post_verify_household(request: Request, claim: HouseholdVerification) -> VerificationResult:
    """Is ``personal_id`` a member of the household headed by ``head_personal_id``?"""
    return verify_household(request.app.state.seed, claim)


@contract_route(
    router,
    PROVIDER,
    "resolve_legacy_id",
    problems=(404, 422),
    openapi_extra=_links(
        GetCitizen=("get_citizen", {"personal_id": "$response.body#/personal_id"})
    ),
)
def get_legacy_id(request: Request, old_id_number: OldIdPath) -> LegacyIdMapping:
    """The 12-digit personal id that replaced an old 9-digit ID (CMND → CCCD)."""
    personal_id = personal_id_for_legacy(request.app.state.seed, old_id_number)
    if personal_id is None:
        raise not_found(f"No citizen had old ID number {old_id_number}.")
    return LegacyIdMapping(old_id_number=old_id_number, personal_id=personal_id)


def examples(seed: int) -> Mapping[str, Example]:
    pid = sample_ids(seed, "038")[0]  # Thanh Hóa, born 1950–2000, so an old ID exists
    record = citizen_record(seed, pid)
    assert record.old_id_number is not None
    claim = CitizenVerification(
        personal_id=pid, full_name=record.full_name, date_of_birth=record.date_of_birth
    )
    household = HouseholdVerification(
        personal_id=pid, head_personal_id=record.household.head_personal_id
    )
    return {
        "get_citizen": Example("a citizen of Thanh Hóa", {"personal_id": pid}, response=record),
        "verify_citizen": Example(
            "the right name and date of birth", body=claim, response=verify_citizen(seed, claim)
        ),
        "verify_household": Example(
            "the citizen's own household head",
            body=household,
            response=verify_household(seed, household),
        ),
        "resolve_legacy_id": Example(
            "the same citizen's old ID",
            {"old_id_number": record.old_id_number},
            response=LegacyIdMapping(old_id_number=record.old_id_number, personal_id=pid),
        ),
    }


INFO = ServiceInfo(
    provider=PROVIDER,
    title="Population database — CSDLQG về dân cư (mock)",
    description=(
        "Mock of the national population database (Cơ sở dữ liệu quốc gia về dân cư, Ministry "
        "of Public Security). One lookup returning the 20 fields shared with provincial systems, "
        "two verifications (citizen; household) and the old-ID mapping. Synthetic, deterministic "
        "data: a citizen exists for every personal id whose province code is real, whose birth "
        "year is 1930–2024 and whose 6-digit serial is below 010000."
    ),
)


def create_app(settings: Settings) -> FastAPI:
    """The population mock, serving ``contracts/openapi/population.yaml`` (v1) and
    ``population.v2.yaml`` (v2) side by side."""
    from mock_services.population_v2 import examples_v2  # imports this one
    from mock_services.population_v2 import router as router_v2

    def both_examples(seed: int) -> dict[str, Example]:
        first = examples(seed)
        return {**first, **examples_v2(seed, first)}

    app = create_service_app(INFO, router, settings, state={"examples": both_examples})
    add_version(app, router_v2)

    @app.get("/samples", include_in_schema=False)
    def samples(province: str = "001", count: int = 5) -> dict[str, object]:
        """A few existing personal ids of a province, to make a first call without code."""
        province_by_code(province)
        return {
            "province": province,
            "personal_ids": sample_ids(settings.mocks.seed, province, min(count, 50)),
        }

    return app


__all__ = ["citizen_record", "create_app", "parse_personal_id"]
