"""Sample calls per province (*dữ liệu mẫu theo tỉnh*): one working call of every operation.

What a sandbox hands a province with its credentials: a citizen of that province, a day with
dossiers there and the dossiers' entities and files, a licence renewed there, and birth and
death registrations of its citizens. Computed by the same functions the mocks answer with, so
every call works as given (the civil registry's ``get_registration`` needs the id a
submission returns: the connection kit links the two). Served by every mock at
``GET /samples/operations?province=``.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from contracts.catalogue import Provider, operations_of
from contracts.civil_registry import (
    BirthRegistrationRequest,
    CitizenRef,
    DeathRegistrationRequest,
    Newborn,
)
from contracts.provinces import province_by_code
from contracts.samples import ProviderSamples, SampleCall
from mock_services.business_entities import KINDS, entity_record
from mock_services.business_registry import dossier_detail, dossier_page
from mock_services.civil_registry_lifecycle import VIETNAM_TZ, encode_cursor, to_us
from mock_services.driver_licence import licence_record, renewal_page
from mock_services.people import (
    Gender,
    Person,
    faker_for,
    faker_lock,
    keyed_random,
    person,
    random_citizen_id,
    street_address,
)
from mock_services.population import citizen_record, sample_ids

FIRST_DAY = date(2024, 6, 3)  # a Monday; the search for a day with dossiers starts here
MAX_DAYS = 366


def province_samples(seed: int, provider: Provider, province_code: str) -> ProviderSamples:
    """One working call of each of ``provider``'s operations, for ``province_code``.

    Raises:
        KeyError: ``province_code`` is not a province code.
    """
    province_by_code(province_code)
    build = {
        "population": _population,
        "business-registry": _business,
        "driver-licence": _driver,
        "civil-registry": _civil,
        "judicial-records": _judicial,
    }[provider]
    calls = _with_v2(provider, build(seed, province_code))
    missing = {op.operation_id for op in operations_of(provider)} - set(calls)
    assert not missing, f"no sample for {sorted(missing)}"  # a new operation needs one here
    return ProviderSamples(provider=provider, province=province_code, operations=calls)


def _with_v2(provider: Provider, calls: dict[str, SampleCall]) -> dict[str, SampleCall]:
    """v1's calls repeated for the provider's v2 operations, with what v2 adds to a request."""
    from mock_services.population_v2 import PROCEDURE_CODE

    additions = {"verify_citizen_v2": {"procedure_code": PROCEDURE_CODE}}
    found = dict(calls)
    for op in operations_of(provider):
        v1_call = calls.get(op.operation_id.removesuffix("_v2"))
        if op.version == 2 and v1_call is not None:
            extra = additions.get(op.operation_id)
            body = {**(v1_call.body or {}), **extra} if extra else v1_call.body
            found[op.operation_id] = v1_call.model_copy(update={"body": body})
    return found


def _utc(moment: datetime) -> str:
    # "Z", not "+07:00": a "+" in a query string would need escaping in every client.
    return f"{moment.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _day_window(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), VIETNAM_TZ)
    return start, start + timedelta(days=1)


def _population(seed: int, code: str) -> dict[str, SampleCall]:
    record = next(
        r
        for r in (citizen_record(seed, pid) for pid in sample_ids(seed, code, 20))
        if r.old_id_number is not None
    )
    assert record.old_id_number is not None
    pid = record.personal_id
    return {
        "get_citizen": SampleCall(
            summary="a citizen of the province", path_params={"personal_id": pid}
        ),
        "verify_citizen": SampleCall(
            summary="the same citizen's name and date of birth",
            body={
                "personal_id": pid,
                "full_name": record.full_name,
                "date_of_birth": record.date_of_birth.isoformat(),
            },
        ),
        "verify_household": SampleCall(
            summary="the citizen and their household head",
            body={"personal_id": pid, "head_personal_id": record.household.head_personal_id},
        ),
        "resolve_legacy_id": SampleCall(
            summary="the same citizen's old 9-digit ID",
            path_params={"old_id_number": record.old_id_number},
        ),
    }


def _business(seed: int, code: str) -> dict[str, SampleCall]:
    calls: dict[str, SampleCall] = {}
    first_file = ""
    for kind, spec in KINDS.items():
        for offset in range(MAX_DAYS):
            start, end = _day_window(FIRST_DAY + timedelta(days=offset))
            page = dossier_page(seed, kind, start, end, code, 1, 3)
            if page.items:
                break
        else:
            raise LookupError(f"no {kind} dossier in province {code} within {MAX_DAYS} days")
        detail = dossier_detail(seed, kind, page.items[0].dossier_id)
        entity = entity_record(seed, kind, detail.entity_code)
        first_file = first_file or (detail.results or detail.components)[0].file_id
        calls[f"get_{kind}"] = SampleCall(
            summary=f"the {spec.noun} of the dossier below", path_params={"code": entity.code}
        )
        calls[f"list_{kind}_dossiers"] = SampleCall(
            summary=f"a day of {spec.noun} dossiers in the province",
            query={"from": _utc(start), "to": _utc(end), "province": code, "page": 1, "size": 3},
        )
        calls[f"get_{kind}_dossier"] = SampleCall(
            summary="the first dossier of that day", path_params={"dossier_id": detail.dossier_id}
        )
    calls["download_file"] = SampleCall(
        summary="a file of the first enterprise dossier", path_params={"file_id": first_file}
    )
    return calls


def _driver(seed: int, code: str) -> dict[str, SampleCall]:
    for offset in range(MAX_DAYS):
        start, end = _day_window(FIRST_DAY + timedelta(days=offset))
        page = renewal_page(seed, start, end, code, 1, 100)
        returned = [d for d in page.items if d.result_file_id]
        if returned:
            break
    else:
        raise LookupError(f"no returned renewal in province {code} within {MAX_DAYS} days")
    dossier = returned[0]
    licence = licence_record(seed, dossier.licence_number)
    return {
        "get_licence": SampleCall(
            summary="the licence renewed by the dossier below",
            path_params={"licence_number": licence.licence_number},
        ),
        "list_renewal_dossiers": SampleCall(
            summary="a day of renewals in the province",
            query={"from": _utc(start), "to": _utc(end), "province": code, "page": 1, "size": 3},
        ),
        "get_renewal_dossier": SampleCall(
            summary="a renewal of that day, returned with its result",
            path_params={"dossier_id": dossier.dossier_id},
        ),
        "download_file": SampleCall(
            summary="its result file", path_params={"file_id": dossier.result_file_id}
        ),
    }


def _civil(seed: int, code: str) -> dict[str, SampleCall]:
    birth, death = registration_requests(seed, code)
    return {
        "submit_birth_registration": SampleCall(
            summary="a birth to two citizens of the province (idempotent on its dossier code)",
            body=birth.model_dump(mode="json"),
        ),
        "submit_death_registration": SampleCall(
            summary="a death of a citizen of the province (idempotent on its dossier code)",
            body=death.model_dump(mode="json"),
        ),
        "get_registration": SampleCall(
            summary="the birth registration: its id is the one the submission returned"
        ),
        "list_status_changes": SampleCall(
            summary="the province's changes since the start of 2024",
            query={"since": "2024-01-01T00:00:00Z", "province": code, "limit": 100},
            # A cursor names a position (instant, sequence, index); this one, the first instant
            # of 2024, is what a first page's next_cursor looks like.
            optional_query={
                "cursor": encode_cursor((to_us(datetime(2024, 1, 1, tzinfo=UTC)), 1, 0))
            },
        ),
    }


def _judicial(seed: int, code: str) -> dict[str, SampleCall]:
    from mock_services.judicial_records import example_request, nth_request_id  # (import cycle)

    return {
        "request_certificate": SampleCall(
            summary="a Phiếu số 1 for a job, for a citizen of the province (idempotent on its "
            "dossier code)",
            body=example_request(seed, code, number=9101).model_dump(mode="json"),
        ),
        "get_certificate_request": SampleCall(
            summary="the request: its id is the one request_certificate returned"
        ),
        "get_certificate": SampleCall(
            summary="the certificate of the province's sandbox request, issued long ago (a new "
            "request's certificate is 409 certificate_not_ready until it is issued)",
            path_params={"request_id": nth_request_id(seed, code, seq=0)},
        ),
    }


def registration_requests(
    seed: int, code: str
) -> tuple[BirthRegistrationRequest, DeathRegistrationRequest]:
    """A birth to two citizens of the province and a death of a third, all real records."""
    province = province_by_code(code)
    rng = keyed_random(seed, "kit-samples", code)
    draws: tuple[tuple[Gender | None, tuple[int, int]], ...] = (
        ("male", (1988, 1994)),
        ("female", (1990, 1996)),
        (None, (1930, 1945)),
    )
    father, mother, deceased = (
        person(seed, random_citizen_id(rng, province_code=code, gender=g, born_between=years))
        for g, years in draws
    )
    with faker_lock:
        fake = faker_for(seed, "kit-samples", code, "child")
        child_name = f"{father.full_name.split()[0]} {fake.middle_name()} {fake.first_name_male()}"
    ward = street_address(seed, "kit-samples", code, "ward").split(", ")[-1]
    home = street_address(seed, "kit-samples", code, "home")

    def ref(citizen: Person) -> CitizenRef:
        return CitizenRef(
            personal_id=citizen.personal_id,
            full_name=citizen.full_name,
            date_of_birth=citizen.date_of_birth,
        )

    prefix = f"000.00.{code[1:]}.H{int(code) % 100:02d}-241230"
    birth = BirthRegistrationRequest(
        dossier_code=f"{prefix}-9001",
        province_code=code,
        child=Newborn(
            full_name=child_name,
            date_of_birth=date(2024, 12, 26),
            gender="male",
            place_of_birth=f"Trạm Y tế {ward}, {province.full_name}",
        ),
        father=ref(father),
        mother=ref(mother),
    )
    death = DeathRegistrationRequest(
        dossier_code=f"{prefix}-9002",
        province_code=code,
        deceased=ref(deceased),
        date_of_death=date(2024, 12, 28),
        place_of_death=f"{home}, {province.full_name}",
    )
    return birth, death
