"""Mock driver-licence database — *CSDL giấy phép lái xe*: lookup, renewal dossiers, files.

Licences are derived from their holder, renewal dossiers from the shared dossier calendar
(:mod:`mock_services.dossiers`, kind ``GPLX``); nothing is stored.

- **Who holds a licence.** A citizen aged 18 or more on :data:`REFERENCE_DATE` holds one with
  probability 0.45 (a keyed roll per personal id).
- **Licence number.** 12 digits, a keyed bijection of the holder's dense citizen index, so a
  number names at most one holder and the lookup inverts it; any other number is 404.
- **Classes and dates.** A motorcycle class (A1, A2) and/or a car class (B1, B2, C, D, E, FC)
  within the minimum ages; validity as in Circular 12/2017/TT-BGTVT: A1/A2 never expire, B2
  ten years, C/D/E/FC five, B1 until 55 (women) / 60 (men) or ten years if issued after 45 / 50.
- **Renewals** (*đổi giấy phép lái xe*, 5 working days): each dossier's holder is drawn from
  the licence holders of the dossier's province; phone and administrative unit are the
  population record's (phone; ward of the permanent residence).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response

from contracts.catalogue import operation
from contracts.common import (
    WINDOW_FROM_DESCRIPTION,
    WINDOW_TO_DESCRIPTION,
    WireDatetime,
    problem_responses,
)
from contracts.driver_licence import (
    LICENCE_NUMBER_DESCRIPTION,
    LICENCE_NUMBER_PATTERN,
    RENEWAL_DOSSIER_ID_DESCRIPTION,
    RENEWAL_DOSSIER_ID_PATTERN,
    RESULT_FILE_ID_PATTERN,
    AdministrativeUnit,
    Licence,
    LicenceClass,
    LicenceClassGrant,
    LicenceHolder,
    RenewalDossier,
    RenewalDossierPage,
)
from contracts.provinces import PROVINCE_CODES, PROVINCES, Province, province_by_code
from mock_services.dossier_history import status_history
from mock_services.dossiers import (
    DossierStub,
    dossier_stub,
    dossiers_in_window,
    file_id_for,
    page_of,
    parse_file_id,
    pdf_bytes,
    validate_window,
    working_days_after,
)
from mock_services.openapi import Example
from mock_services.people import (
    CITIZEN_COUNT,
    REFERENCE_DATE,
    Person,
    UnknownCitizen,
    citizen_at,
    citizen_index,
    keyed_random,
    permute,
    person,
    random_citizen_id,
    unpermute,
)
from mock_services.population import citizen_record
from mock_services.service import (
    OperationRoute,
    ProblemError,
    ServiceInfo,
    add_version,
    create_service_app,
    not_found,
)
from ndxp_config.settings import Settings

PROVIDER = "driver-licence"
DOSSIER_KIND = "GPLX"
PROCESSING_DAYS = 5  # đổi GPLX: 5 working days (Circular 12/2017/TT-BGTVT, Art. 37)
LICENCE_SHARE = 0.45
ADULT_AGE = 18
_LICENCE_MODULUS = 10**12
# Renewals received nationally per working day (the reports: 350,000 by June 2024).
_DAILY_RENEWALS = 1200.0
_TOTAL_POPULATION_K = sum(p.population_k for p in PROVINCES)
PROCEDURE_CODE = "1.002804"
PROCEDURE_NAME = "Đổi giấy phép lái xe do ngành Giao thông vận tải cấp"
RENEWAL_FEE_VND = 135_000  # lệ phí cấp, đổi GPLX (Circular 37/2023/TT-BTC)
_PAUSE_NOTES = (
    "Yêu cầu bổ sung giấy khám sức khỏe",
    "Ảnh chân dung không đạt yêu cầu, đề nghị bổ sung",
    "Chờ xác minh giấy phép lái xe gốc",
)
_REJECTION_NOTE = "Giấy phép lái xe gốc không có trong hệ thống quản lý"
_RESULT_TITLES = {
    "returned": "Giấy phép lái xe (cấp đổi)",
    "rejected": "Thông báo từ chối cấp đổi giấy phép lái xe",
}
# Class tables: (class, weight); minimum age; validity in years (None: does not expire).
_MOTORCYCLE: tuple[tuple[LicenceClass | None, int], ...] = (("A1", 70), ("A2", 8), (None, 22))
_CAR: tuple[tuple[LicenceClass | None, int], ...] = (
    (None, 45), ("B1", 4), ("B2", 35), ("C", 9), ("D", 4), ("E", 2), ("FC", 1),
)  # fmt: skip
_MIN_AGE: dict[str, int] = {"C": 21, "D": 24, "FC": 24, "E": 27}
_VALID_YEARS: dict[str, int | None] = {"A1": None, "A2": None, "B2": 10}  # others: 5 (B1 aside)


class UnknownLicence(LookupError):
    """No licence has this number."""


def _pick(rng_value: float, table: tuple[tuple[LicenceClass | None, int], ...]) -> Any:
    point = rng_value * sum(weight for _, weight in table)
    for value, weight in table:
        point -= weight
        if point < 0:
            return value
    return table[-1][0]


def _plus_years(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def holds_licence(seed: int, holder: Person) -> bool:
    """Adults on the reference date, and a keyed ~45 % of them."""
    if holder.age_on(REFERENCE_DATE) < ADULT_AGE:
        return False
    return keyed_random(seed, "holds-licence", holder.personal_id).random() < LICENCE_SHARE


def licence_number_of(seed: int, personal_id: str) -> str:
    index = citizen_index(personal_id)
    if index is None:
        raise UnknownCitizen(personal_id)
    return f"{permute(seed, 'licence', index, _LICENCE_MODULUS):012d}"


def holder_of(seed: int, licence_number: str) -> Person:
    """The holder a licence number names; :class:`UnknownLicence` if it names none."""
    index = unpermute(seed, "licence", int(licence_number), _LICENCE_MODULUS)
    if index >= CITIZEN_COUNT:
        raise UnknownLicence(licence_number)
    holder = person(seed, citizen_at(index))
    if not holds_licence(seed, holder):
        raise UnknownLicence(licence_number)
    return holder


def _grant(seed: int, holder: Person, licence_class: LicenceClass) -> LicenceClassGrant:
    rng = keyed_random(seed, "licence-class", holder.personal_id, licence_class)
    dob = holder.date_of_birth
    years = _VALID_YEARS.get(licence_class, 5)
    earliest = _plus_years(dob, _MIN_AGE.get(licence_class, ADULT_AGE))
    if years is None:
        earliest = max(earliest, date(1995, 1, 1))
    else:  # the current card was issued at its last renewal; ~a quarter have lapsed since
        earliest = max(earliest, REFERENCE_DATE - timedelta(days=round(years * 365 * 1.3)))
    issue = earliest + timedelta(days=rng.randrange((REFERENCE_DATE - earliest).days + 1))
    expiry = None if years is None else _plus_years(issue, years)
    if licence_class == "B1":
        retire, late = (60, 50) if holder.gender == "male" else (55, 45)
        late_issue = issue >= _plus_years(dob, late)
        expiry = _plus_years(issue, 10) if late_issue else _plus_years(dob, retire)
    return LicenceClassGrant(licence_class=licence_class, issue_date=issue, expiry_date=expiry)


def licence_of(seed: int, holder: Person) -> Licence:
    """The licence of a holder (call :func:`holds_licence` first)."""
    rng = keyed_random(seed, "licence", holder.personal_id)
    age = holder.age_on(REFERENCE_DATE)
    motorcycle, car = _pick(rng.random(), _MOTORCYCLE), _pick(rng.random(), _CAR)
    if car is not None and age < _MIN_AGE.get(car, ADULT_AGE):
        car = "B2"
    if motorcycle is None and car is None:
        motorcycle = "A1"
    grants = [_grant(seed, holder, c) for c in (motorcycle, car) if c is not None]
    expiries = [g.expiry_date for g in grants if g.expiry_date is not None]
    expiry = min(expiries) if expiries else None
    roll = rng.random()
    status = (
        "revoked"
        if roll < 0.01
        else "suspended"
        if roll < 0.04
        else ("expired" if expiry is not None and expiry < REFERENCE_DATE else "valid")
    )
    province = holder.province
    return Licence(
        licence_number=licence_number_of(seed, holder.personal_id),
        personal_id=holder.personal_id,
        full_name=holder.full_name,
        date_of_birth=holder.date_of_birth,
        classes=grants,
        issue_date=max(g.issue_date for g in grants),
        expiry_date=expiry,
        issuing_authority=f"Sở Giao thông vận tải {province.kind.lower()} {province.name}",
        status=status,
    )


def licence_record(seed: int, licence_number: str) -> Licence:
    """The licence with this number; :class:`UnknownLicence` if there is none."""
    return licence_of(seed, holder_of(seed, licence_number))


# --- renewal dossiers (hồ sơ đổi giấy phép lái xe) ----------------------------------------


def daily_volume(province: Province) -> float:
    return _DAILY_RENEWALS * province.population_k / _TOTAL_POPULATION_K


def renewal_holder(seed: int, stub: DossierStub) -> Person:
    """A licence holder of the dossier's province, adult when the dossier was received."""
    rng = keyed_random(seed, "renewal-holder", stub.dossier_id)
    latest = min(stub.received_at.year, REFERENCE_DATE.year) - ADULT_AGE
    for _ in range(1000):  # ~2 draws on average; 1000 failures would take a broken table
        candidate = person(
            seed,
            random_citizen_id(rng, province_code=stub.province_code, born_between=(1940, latest)),
        )
        if holds_licence(seed, candidate):
            return candidate
    raise RuntimeError(f"no licence holder drawn for {stub.dossier_id}")


def renewal_dossier(seed: int, stub: DossierStub) -> RenewalDossier:
    """Every field of a renewal dossier, derived from the calendar's stub and the seed."""
    holder = renewal_holder(seed, stub)
    record = citizen_record(seed, holder.personal_id)
    rng = keyed_random(seed, "renewal", stub.dossier_id)
    rejected = rng.random() < 0.06
    exam = stub.received_at - timedelta(days=rng.randint(1, 60))
    province = province_by_code(stub.province_code)
    # "street, ward, province" — the population's permanent residence of the holder.
    ward = record.permanent_address.split(", ")[-2]
    assert record.phone is not None  # adults always have one
    return_date = working_days_after(stub.end_at, rng.randint(0, 2)) + timedelta(
        minutes=rng.randint(10, 120)
    )
    return RenewalDossier(
        dossier_id=stub.dossier_id,
        procedure_code=PROCEDURE_CODE,
        procedure_name=PROCEDURE_NAME,
        province_code=stub.province_code,
        licence_number=licence_number_of(seed, holder.personal_id),
        holder=LicenceHolder(
            personal_id=holder.personal_id,
            full_name=holder.full_name,
            date_of_birth=holder.date_of_birth,
        ),
        phone=record.phone,
        health_certificate_ref=(
            f"KSK{stub.province_code}{exam:%y%m%d}{rng.randrange(100_000):05d}"
        ),
        fees_collected=RENEWAL_FEE_VND,
        current_administrative_unit=AdministrativeUnit(
            ward=ward, province_code=province.code, province_name=province.full_name
        ),
        received_at=stub.received_at,
        result_date=stub.end_at,
        return_date=return_date,
        result_file_id=file_id_for(stub.dossier_id, "result", 1),
        status="rejected" if rejected else "returned",
        history=status_history(
            seed,
            stub.dossier_id,
            received_at=stub.received_at,
            end_at=stub.end_at,
            due_at=working_days_after(stub.received_at, PROCESSING_DAYS),
            final="rejected" if rejected else "returned",
            returned_at=return_date,
            pause_notes=_PAUSE_NOTES,
            rejection_note=_REJECTION_NOTE,
        ),
    )


def renewal_page(
    seed: int,
    start: datetime,
    end: datetime,
    province_code: str | None,
    page: int,
    size: int,
) -> RenewalDossierPage:
    """The ``page``-th page of renewal dossiers whose processing ended in ``[start, end)``."""
    validate_window(start, end)
    window = dossiers_in_window(
        seed,
        DOSSIER_KIND,
        start,
        end,
        province_code,
        daily_volume=daily_volume,
        processing_days=PROCESSING_DAYS,
    )
    stubs, total = page_of(window, page, size)
    items = [renewal_dossier(seed, stub) for stub in stubs]
    return RenewalDossierPage(items=items, page=page, size=size, total=total)


def renewal_stub(seed: int, dossier_id: str) -> DossierStub | None:
    return dossier_stub(
        seed,
        DOSSIER_KIND,
        dossier_id,
        daily_volume=daily_volume,
        processing_days=PROCESSING_DAYS,
    )


def result_file(seed: int, file_id: str) -> tuple[str, bytes] | None:
    """``(title, PDF bytes)`` of a renewal's result file; None if no dossier has that file."""
    parsed = parse_file_id(file_id)
    if parsed is None or parsed[1:] != ("result", 1):
        return None
    stub = renewal_stub(seed, parsed[0])
    if stub is None:
        return None
    dossier = renewal_dossier(seed, stub)
    title = f"{_RESULT_TITLES[dossier.status]} — {dossier.holder.full_name}"
    return title, pdf_bytes(seed, file_id, title)


# --- HTTP ----------------------------------------------------------------------------------

router = APIRouter(prefix="/v1", route_class=OperationRoute, tags=["driver-licence"])
LicenceNumberPath = Annotated[
    str, Path(pattern=LICENCE_NUMBER_PATTERN, description=LICENCE_NUMBER_DESCRIPTION)
]
DossierIdPath = Annotated[
    str, Path(pattern=RENEWAL_DOSSIER_ID_PATTERN, description=RENEWAL_DOSSIER_ID_DESCRIPTION)
]
FileIdPath = Annotated[
    str, Path(pattern=RESULT_FILE_ID_PATTERN, description="Result file id (mã tệp kết quả).")
]
FromQuery = Annotated[WireDatetime, Query(alias="from", description=WINDOW_FROM_DESCRIPTION)]
ToQuery = Annotated[WireDatetime, Query(alias="to", description=WINDOW_TO_DESCRIPTION)]
ProvinceQuery = Annotated[
    str | None,
    Query(
        pattern=r"^\d{3}$",
        description="Only dossiers of this province (mã tỉnh); all provinces if absent.",
        json_schema_extra={"enum": sorted(PROVINCE_CODES)},
    ),
]
PDF_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The result file, as a PDF (application/pdf) with Content-Disposition.",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def _op(operation_id: str) -> dict[str, Any]:
    return {"operation_id": operation_id, "summary": operation(PROVIDER, operation_id).summary}


@router.get(
    "/licences/{licence_number}", **_op("get_licence"), responses=problem_responses(404, 422)
)
def get_licence(request: Request, licence_number: LicenceNumberPath) -> Licence:
    """Number, holder, classes with their dates, and status, in real time."""
    try:
        return licence_record(request.app.state.seed, licence_number)
    except UnknownLicence:
        raise not_found(f"No driver licence has number {licence_number}.") from None


@router.get("/renewal-dossiers", **_op("list_renewal_dossiers"), responses=problem_responses(422))
def list_renewal_dossiers(
    request: Request,
    start: FromQuery,
    end: ToQuery,
    province: ProvinceQuery = None,
    page: Annotated[int, Query(ge=1, description="1-based page number.")] = 1,
    size: Annotated[int, Query(ge=1, le=100, description="Page size, 1–100.")] = 20,
) -> RenewalDossierPage:
    """Renewal dossiers whose processing ended in ``[from, to)``, by end time, paginated."""
    if province is not None and province not in PROVINCE_CODES:
        raise ProblemError(
            422, "invalid_request", "Invalid request", f"Unknown province code {province}."
        )
    return renewal_page(request.app.state.seed, start, end, province, page, size)


@router.get(
    "/renewal-dossiers/{dossier_id}",
    **_op("get_renewal_dossier"),
    responses=problem_responses(404, 422),
)
def get_renewal_dossier(request: Request, dossier_id: DossierIdPath) -> RenewalDossier:
    """One renewal dossier, with result and return dates and the result file id."""
    seed = request.app.state.seed
    stub = renewal_stub(seed, dossier_id)
    if stub is None:
        raise not_found(f"No renewal dossier has id {dossier_id}.")
    return renewal_dossier(seed, stub)


@router.get(
    "/files/{file_id}",
    **_op("download_file"),
    response_class=Response,
    responses={**PDF_RESPONSE, **problem_responses(404, 422)},
)
def download_file(request: Request, file_id: FileIdPath) -> Response:
    """A renewal's result file (the new licence, or the refusal notice) as a PDF."""
    found = result_file(request.app.state.seed, file_id)
    if found is None:
        raise not_found(f"No renewal result file has id {file_id}.")
    title, content = found
    disposition = f"attachment; filename=\"{file_id}.pdf\"; filename*=UTF-8''{quote(title)}.pdf"
    return Response(
        content, media_type="application/pdf", headers={"Content-Disposition": disposition}
    )


def examples(seed: int) -> Mapping[str, Example]:
    """A working day of Thanh Hóa renewals, its first dossier, its holder and result file."""
    start = datetime.fromisoformat("2024-06-02T17:00:00+00:00")  # 3 June 2024, 00:00 in Vietnam
    end = start + timedelta(days=1)
    query = {"from": "2024-06-02T17:00:00Z", "to": "2024-06-03T17:00:00Z"}
    page = renewal_page(seed, start, end, "038", 1, 3)
    dossier = page.items[0]
    return {
        "get_licence": Example(
            "the licence renewed by the first dossier below",
            {"licence_number": dossier.licence_number},
            response=licence_record(seed, dossier.licence_number),
        ),
        "list_renewal_dossiers": Example(
            "a day of renewals in Thanh Hóa",
            query={**query, "province": "038", "page": 1, "size": 3},
            response=page,
        ),
        "get_renewal_dossier": Example(
            "the first renewal of that day", {"dossier_id": dossier.dossier_id}, response=dossier
        ),
        "download_file": Example("its result file", {"file_id": dossier.result_file_id}),
    }


INFO = ServiceInfo(
    provider=PROVIDER,
    title="Driver-licence database — CSDL giấy phép lái xe (mock)",
    description=(
        "Mock of the driver-licence database (Cơ sở dữ liệu giấy phép lái xe, Ministry of "
        "Transport). Licence lookup by number (holder, classes with issue and expiry dates, "
        "status); renewal dossiers (đổi giấy phép lái xe) whose processing ended in a time "
        "window (at most 31 days, paginated, optionally one province), one dossier's detail "
        "with phone, e-health-certificate reference, fees, current administrative unit, result "
        "and return dates, and its result file (PDF). Synthetic, deterministic data: holders "
        "are citizens of the population mock."
    ),
)


def create_app(settings: Settings) -> FastAPI:
    """The driver-licence mock, serving ``contracts/openapi/driver-licence.yaml`` (v1) and
    ``driver-licence.v2.yaml`` (v2) side by side."""
    from mock_services.driver_licence_v2 import examples_v2  # imports this one
    from mock_services.driver_licence_v2 import router as router_v2

    def both_examples(seed: int) -> dict[str, Example]:
        first = examples(seed)
        return {**first, **examples_v2(seed, first)}

    app = create_service_app(INFO, router, settings, state={"examples": both_examples})
    add_version(app, router_v2)
    return app


__all__ = [
    "create_app",
    "holder_of",
    "holds_licence",
    "licence_number_of",
    "licence_of",
    "licence_record",
    "renewal_dossier",
    "renewal_page",
]
