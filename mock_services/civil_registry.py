"""Mock civil registry — *hệ thống hộ tịch*: birth and death registrations, status, sync.

Submissions are idempotent on the province's dossier code and checked against the population
(parents, the deceased); records are stored by :mod:`mock_services.civil_registry_store` and
their lifecycle derived by :mod:`mock_services.civil_registry_lifecycle`. This is the one mock
that reads a clock, for the lifecycle, and the clock is injectable
(``create_app(settings, clock=...)``). Newborns get a new personal id with a serial of 010000 or
more, which the population mock does not know.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response

from contracts.civil_registry import (
    CURSOR_DESCRIPTION,
    CURSOR_PATTERN,
    REGISTRATION_ID_DESCRIPTION,
    REGISTRATION_ID_PATTERN,
    BirthRegistrationRequest,
    CitizenRef,
    DeathRegistrationRequest,
    Newborn,
    Registration,
    RegistrationKind,
    StatusChangePage,
)
from contracts.common import WireDatetime, problem_responses
from contracts.provinces import PROVINCE_CODES
from mock_services import submissions
from mock_services.civil_registry_lifecycle import (
    VIETNAM_TZ,
    decode_cursor,
    from_us,
    kind_of,
    registration_view,
    seq_of,
    settled_us,
    status_change_page,
    to_us,
)
from mock_services.civil_registry_store import StoredRegistration
from mock_services.openapi import Example
from mock_services.people import (
    Gender,
    Person,
    UnknownCitizen,
    faker_for,
    faker_lock,
    keyed_random,
    person,
    random_citizen_id,
    street_address,
)
from mock_services.service import OperationRoute, ProblemError, ServiceInfo, not_found
from ndxp_config.settings import Settings

PROVIDER = "civil-registry"
_EARLIEST_BIRTH = date(1900, 1, 1)  # the personal-id century digit covers 1900–2099


# --- submissions ---------------------------------------------------------------------------


def _invalid(detail: str) -> ProblemError:
    return ProblemError(422, "invalid_request", "Invalid request", detail)


def _same_name(a: str, b: str) -> bool:
    def norm(name: str) -> str:
        return " ".join(unicodedata.normalize("NFC", name).split()).casefold()

    return norm(a) == norm(b)


def check_citizen(seed: int, role: str, ref: CitizenRef, gender: Gender | None = None) -> None:
    """422 ``citizen_mismatch`` unless ``ref`` is a population citizen with exactly these values.

    The detail names the person (father, mother, deceased) and the fields that differ, never
    the recorded values: a registration form is no back door into the population database.
    """

    def mismatch(why: str) -> ProblemError:
        return ProblemError(422, "citizen_mismatch", "Citizen mismatch", f"{role}: {why}")

    try:
        citizen = person(seed, ref.personal_id)
    except UnknownCitizen:
        raise mismatch(f"no citizen has personal id {ref.personal_id}.") from None
    wrong = [
        name
        for name, ok in (
            ("full_name", _same_name(ref.full_name, citizen.full_name)),
            ("date_of_birth", ref.date_of_birth == citizen.date_of_birth),
        )
        if not ok
    ]
    if wrong:
        fields = " and ".join(wrong)
        raise mismatch(f"{fields} differ from the population record of {ref.personal_id}.")
    if gender is not None and citizen.gender != gender:
        raise mismatch(f"personal id {ref.personal_id} is not a {gender} citizen's.")


def check_birth(seed: int, body: BirthRegistrationRequest, today: date) -> None:
    if not _EARLIEST_BIRTH <= body.child.date_of_birth <= today:
        raise _invalid(f"child.date_of_birth must be between {_EARLIEST_BIRTH} and {today}.")
    parents: tuple[tuple[str, CitizenRef | None, Gender], ...] = (
        ("father", body.father, "male"),
        ("mother", body.mother, "female"),
    )
    for role, parent, gender in parents:
        if parent is None:
            continue
        check_citizen(seed, role, parent, gender)
        if parent.date_of_birth >= body.child.date_of_birth:
            raise _invalid(f"{role}.date_of_birth must be before the child's.")


def check_death(seed: int, body: DeathRegistrationRequest, today: date) -> None:
    check_citizen(seed, "deceased", body.deceased)
    if not body.deceased.date_of_birth <= body.date_of_death <= today:
        raise _invalid(f"date_of_death must be between the date of birth and {today}.")


class CivilRegistry(submissions.DossierDesk):
    """The civil registry's desk: births and deaths, checked against the population."""

    def submit(
        self, kind: RegistrationKind, body: BirthRegistrationRequest | DeathRegistrationRequest
    ) -> tuple[Registration, bool]:
        """Idempotent on ``(province_code, dossier_code)``: the registration and if it is new."""
        submissions.check_province(body.province_code)
        now = self.clock()
        today = now.astimezone(VIETNAM_TZ).date()
        if isinstance(body, BirthRegistrationRequest):
            check_birth(self.seed, body, today)
        else:
            check_death(self.seed, body, today)
        row, created = submissions.submit_once(
            self.store,
            body,
            kind=kind,
            submitted_us=to_us(now),
            minute_s=self.minute_s,
            settled_us=lambda row: settled_us(self.seed, row),
            sent="submitted",
        )
        return registration_view(self.seed, row, now), created

    def find(self, registration_id: str) -> StoredRegistration:
        row = self.store.get(seq_of(self.seed, registration_id))
        if (
            row is None
            or row.kind != kind_of(registration_id)
            or row.province_code != registration_id[2:5]
        ):
            raise not_found(f"No registration has id {registration_id}.")
        return row


# --- HTTP ----------------------------------------------------------------------------------

RegistrationIdPath = Annotated[
    str, Path(pattern=REGISTRATION_ID_PATTERN, description=REGISTRATION_ID_DESCRIPTION)
]
router = APIRouter(prefix="/v1", route_class=OperationRoute, tags=["civil-registry"])


_SUBMIT_RESPONSES = submissions.submission_responses(
    Registration,
    "the registration",
    repeat="the existing registration",
    sent="submitted",
    invalid="invalid_request; or citizen_mismatch: a parent or the deceased is not the "
    "population citizen with exactly that personal id, full name and date of birth",
)


@submissions.post_submission(
    router, PROVIDER, "/birth-registrations", "submit_birth_registration", _SUBMIT_RESPONSES
)
def submit_birth(
    request: Request, response: Response, body: BirthRegistrationRequest
) -> Registration:
    """Register a birth; 201 when created, 200 with the same registration on a repeat.

    Parents must be population citizens with exactly the given id, full name and date of
    birth (422 ``citizen_mismatch``); the same dossier code with another body is 409
    ``dossier_code_conflict``.
    """
    return submissions.answered(response, CivilRegistry.of(request).submit("birth", body))


@submissions.post_submission(
    router, PROVIDER, "/death-registrations", "submit_death_registration", _SUBMIT_RESPONSES
)
def submit_death(
    request: Request, response: Response, body: DeathRegistrationRequest
) -> Registration:
    """Register a death; 201 when created, 200 with the same registration on a repeat."""
    return submissions.answered(response, CivilRegistry.of(request).submit("death", body))


@router.get(
    "/registrations/{registration_id}",
    **submissions.operation_args(PROVIDER, "get_registration"),
    responses=problem_responses(404, 422),
)
def get_registration(request: Request, registration_id: RegistrationIdPath) -> Registration:
    """The registration's current status, history so far and, once processed, its result."""
    registry = CivilRegistry.of(request)
    return registration_view(registry.seed, registry.find(registration_id), registry.clock())


@router.get(
    "/status-changes",
    **submissions.operation_args(PROVIDER, "list_status_changes"),
    responses=problem_responses(422),
)
def list_status_changes(
    request: Request,
    since: Annotated[
        WireDatetime, Query(description="List transitions strictly after this instant.")
    ],
    cursor: Annotated[
        str | None, Query(pattern=CURSOR_PATTERN, description=CURSOR_DESCRIPTION)
    ] = None,
    province: Annotated[
        str | None,
        Query(
            pattern=r"^\d{3}$",
            description="Only this province (mã tỉnh).",
            json_schema_extra={"enum": sorted(PROVINCE_CODES)},
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="Page size, 1–1000.")] = 100,
) -> StatusChangePage:
    """Every transition in (since, now], oldest first: none from the future, none twice.

    A sync job calls with its ``since``, then again with ``cursor=next_cursor`` while
    ``has_more``; at its next poll it passes its last ``next_cursor`` (and the same ``since``)
    and gets only what happened meanwhile. Transitions sharing an instant are never split or
    repeated across pages.
    """
    if province is not None and province not in PROVINCE_CODES:
        raise _invalid(f"province: {province} is not a province code.")
    try:
        position = decode_cursor(cursor) if cursor is not None else None
    except ValueError as exc:
        raise _invalid(f"cursor: {exc}.") from None
    registry = CivilRegistry.of(request)
    now = registry.clock()
    start_us = max(to_us(since), position[0] if position else to_us(since))
    rows = registry.store.changing_between(start_us, to_us(now), province)
    return status_change_page(
        registry.seed, rows, since=since, cursor=position, now=now, limit=limit
    )


# --- published examples --------------------------------------------------------------------

_EXAMPLE_SUBMITTED = datetime(2024, 12, 30, 8, 0, tzinfo=VIETNAM_TZ)
_EXAMPLE_MINUTE_S = 60.0


def example_requests(seed: int) -> tuple[BirthRegistrationRequest, DeathRegistrationRequest]:
    """A birth to two Thanh Hóa citizens and a death of a third, all real population records."""
    rng = keyed_random(seed, "civil-registry-example")
    draws: tuple[tuple[Gender | None, tuple[int, int]], ...] = (
        ("male", (1988, 1994)),
        ("female", (1990, 1996)),
        (None, (1930, 1945)),
    )
    father, mother, deceased = (
        person(seed, random_citizen_id(rng, province_code="038", gender=g, born_between=years))
        for g, years in draws
    )
    with faker_lock:
        fake = faker_for(seed, "civil-registry-example", "child")
        child_name = f"{father.full_name.split()[0]} {fake.middle_name()} {fake.first_name_male()}"
    ward = street_address(seed, "civil-registry-example", "ward").split(", ")[-1]

    def ref(citizen: Person) -> CitizenRef:
        return CitizenRef(
            personal_id=citizen.personal_id,
            full_name=citizen.full_name,
            date_of_birth=citizen.date_of_birth,
        )

    birth = BirthRegistrationRequest(
        dossier_code="000.00.38.H56-241230-0001",
        province_code="038",
        child=Newborn(
            full_name=child_name,
            date_of_birth=date(2024, 12, 26),
            gender="male",
            place_of_birth=f"Trạm Y tế {ward}, Tỉnh Thanh Hóa",
        ),
        father=ref(father),
        mother=ref(mother),
    )
    death = DeathRegistrationRequest(
        dossier_code="000.00.38.H56-241230-0002",
        province_code="038",
        deceased=ref(deceased),
        date_of_death=date(2024, 12, 28),
        place_of_death=f"{street_address(seed, 'civil-registry-example', 'home')}, Tỉnh Thanh Hóa",
    )
    return birth, death


def examples(seed: int) -> Mapping[str, Example]:
    """A fresh store's first two submissions, as answered then, an hour later and a day later."""
    birth, death = example_requests(seed)
    rows = [
        StoredRegistration(
            seq,
            kind,
            body.province_code,
            body.dossier_code,
            body.model_dump_json(),
            to_us(_EXAMPLE_SUBMITTED + timedelta(minutes=seq - 1)),
            _EXAMPLE_MINUTE_S,
        )
        for seq, kind, body in ((1, "birth", birth), (2, "death", death))
    ]
    later = _EXAMPLE_SUBMITTED + timedelta(days=1)
    since = _EXAMPLE_SUBMITTED - timedelta(minutes=1)
    page = status_change_page(
        seed, rows, since=since, cursor=None, now=_EXAMPLE_SUBMITTED + timedelta(hours=1), limit=100
    )
    first = registration_view(seed, rows[0], _EXAMPLE_SUBMITTED)
    return {
        # Registration ids follow the order of arrival: the documented ones are a fresh
        # registry's first (the birth) and second (the death) submission. Anywhere else the
        # id differs, so the examples say so rather than show an id as if it were fixed.
        "submit_birth_registration": Example(
            "a birth in Thanh Hóa, the first submission to a fresh registry; registration ids "
            "follow arrival order, so read yours from the answer",
            body=birth,
            response=first,
        ),
        "submit_death_registration": Example(
            "a death in Thanh Hóa, submitted right after the birth example to a fresh registry; "
            "its registration id is the second one issued, read yours from the answer",
            body=death,
            response=registration_view(seed, rows[1], from_us(rows[1].submitted_us)),
        ),
        "get_registration": Example(
            "the birth, a day later",
            {"registration_id": first.registration_id},
            response=registration_view(seed, rows[0], later),
        ),
        "list_status_changes": Example(
            "the first hour of both",
            query={"since": since.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")},
            response=page,
        ),
    }


INFO = ServiceInfo(
    provider=PROVIDER,
    title="Civil registry — hệ thống hộ tịch (mock)",
    description=(
        "Mock of the electronic civil-status registry (Cơ sở dữ liệu hộ tịch điện tử, Ministry "
        "of Justice). Provinces submit birth registrations (đăng ký khai sinh) and death "
        "registrations (đăng ký khai tử), idempotently on their dossier code, then read status "
        "and result or sync status changes. Status codes follow DVCQG: received 2, rejected 3, "
        "processing 4 (overdue: 4, past due_at), paused 5, processed 9, returned 10; the "
        "lifecycle advances with time, deterministically per registration. Parents and the "
        "deceased must be population citizens; newborns get a new personal id (serial 010000 "
        "and above) that the population mock does not know."
    ),
)


def create_app(settings: Settings, *, clock: submissions.Clock | None = None) -> FastAPI:
    """The civil-registry mock; ``clock`` (default: the wall clock) drives every lifecycle.

    Registrations live in ``<state_dir>/civil-registry-<seed>.db``: one file per seed, since
    ids and lifecycles are keyed on the seed.
    """
    registry = CivilRegistry.open(settings, PROVIDER, clock)
    return registry.app(INFO, router, settings, examples)


__all__ = ["CivilRegistry", "create_app", "example_requests"]
