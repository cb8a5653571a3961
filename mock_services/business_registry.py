"""Mock business-registration database — *CSDLQG về đăng ký doanh nghiệp*: for enterprises,
household businesses and cooperatives, lookup by code, dossiers processed in a window and
dossier detail; plus the download of a dossier file.

The entities themselves — reference tables, codes and records derived from a code — are in
:mod:`mock_services.business_entities`; this module derives the dossiers about them and serves
both.

Dossiers come from the shared calendar (:mod:`mock_services.dossiers`), kinds ``DN``, ``HKD``
and ``HTX``; each concerns an entity of its province registered by then (entities are numbered
in order of registration; in a registry's first days, when a province has almost none, a later
one may be drawn), chosen from the dossier id; a founding procedure matches the entity's legal
form. Entities are a snapshot as of ``REFERENCE_DATE`` while dossiers are drawn per day, so a
founding dossier's entity shows an earlier registration date (a documented limit of derivation
without storage).
"""

# No ``from __future__ import annotations``: the routes are built per kind inside a function,
# and FastAPI must see their parameter types (local aliases) as objects, not strings.
from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Path, Query, Request, Response

from contracts.business_registry import (
    COOPERATIVE_CODE_DESCRIPTION,
    DOSSIER_ID_DESCRIPTION,
    ENTERPRISE_CODE_DESCRIPTION,
    ENTERPRISE_CODE_PATTERN,
    FILE_ID_DESCRIPTION,
    FILE_ID_PATTERN,
    HOUSEHOLD_BUSINESS_CODE_DESCRIPTION,
    HOUSEHOLD_BUSINESS_CODE_PATTERN,
    KIND_PAGES,
    DossierDetail,
    DossierFile,
    DossierPage,
    DossierSummary,
    Entity,
    EntityKind,
)
from contracts.catalogue import operation
from contracts.common import (
    WINDOW_FROM_DESCRIPTION,
    WINDOW_TO_DESCRIPTION,
    WireDatetime,
    problem_responses,
)
from contracts.provinces import PROVINCES, province_by_code
from mock_services.business_entities import (
    KINDS,
    KindSpec,
    Procedure,
    UnknownEntity,
    entity_record,
    legal_form_of,
    random_entity_code,
)
from mock_services.dossier_history import Final, status_history
from mock_services.dossiers import (
    VIETNAM_TZ,
    DossierStub,
    dossier_id_pattern,
    dossier_stub,
    dossiers_in_window,
    file_id_for,
    page_of,
    parse_dossier_id,
    parse_file_id,
    pdf_bytes,
    validate_window,
    working_days_after,
)
from mock_services.openapi import Example
from mock_services.people import keyed_random
from mock_services.service import (
    OperationRoute,
    ProblemError,
    ServiceInfo,
    create_service_app,
    not_found,
)
from ndxp_config.settings import Settings

PROVIDER = "business-registry"
PROCESSING_DAYS = 3  # legal time limit: 3 working days (Luật Doanh nghiệp 2020, Art. 26)
_REJECTION = "Thông báo về việc sửa đổi, bổ sung hồ sơ"
_PAUSE_NOTES = (
    "Đề nghị bổ sung điều lệ công ty",
    "Chờ ý kiến cơ quan thuế về mã số thuế",
    "Tên dự kiến trùng, đề nghị người nộp hồ sơ điều chỉnh",
)
_BY_DOSSIER_KIND = {spec.dossier_kind: spec for spec in KINDS.values()}


class UnknownDossier(LookupError):
    """No dossier of this kind has this id."""


# -- dossiers ------------------------------------------------------------------------------


def _summary(seed: int, spec: KindSpec, stub: DossierStub) -> tuple[DossierSummary, Procedure]:
    rng = keyed_random(seed, "dossier", stub.dossier_id)
    province = province_by_code(stub.province_code)
    code = random_entity_code(seed, spec, rng, province, by=stub.end_at.date())
    legal_form = legal_form_of(seed, spec, code)[0]
    choices = tuple(p for p in spec.procedures if p.legal_form in (None, legal_form))
    procedure = rng.choices(choices, weights=[p.weight for p in choices])[0]
    summary = DossierSummary(
        dossier_id=stub.dossier_id,
        entity_kind=spec.kind,
        entity_code=code,
        procedure_code=procedure.code,
        procedure_name=procedure.name,
        province_code=stub.province_code,
        received_at=stub.received_at,
        end_at=stub.end_at,
        status=rng.choices(("returned", "processed", "rejected"), weights=(70, 18, 12))[0],
    )
    return summary, procedure


def dossier_page(
    seed: int,
    kind: EntityKind,
    start: datetime,
    end: datetime,
    province_code: str | None,
    page: int,
    size: int,
) -> DossierPage:
    """The ``page``-th page of dossiers of a kind whose processing ended in ``[start, end)``."""
    spec = KINDS[kind]
    validate_window(start, end)
    window = dossiers_in_window(
        seed,
        spec.dossier_kind,
        start,
        end,
        province_code,
        daily_volume=spec.daily_volume,
        processing_days=PROCESSING_DAYS,
    )
    stubs, total = page_of(window, page, size)
    items = [_summary(seed, spec, stub)[0] for stub in stubs]
    return DossierPage(items=items, page=page, size=size, total=total)


def dossier_detail(seed: int, kind: EntityKind, dossier_id: str) -> DossierDetail:
    """One dossier with its files; :class:`UnknownDossier` if the id names none of this kind."""
    spec = KINDS[kind]
    stub = dossier_stub(
        seed,
        spec.dossier_kind,
        dossier_id,
        daily_volume=spec.daily_volume,
        processing_days=PROCESSING_DAYS,
    )
    if stub is None:
        raise UnknownDossier(dossier_id)
    summary, procedure = _summary(seed, spec, stub)
    results = (_REJECTION,) if summary.status == "rejected" else (procedure.result,)

    def files(role: str, names: tuple[str, ...]) -> list[DossierFile]:
        return [
            DossierFile(name=name, file_id=file_id_for(dossier_id, role, n))
            for n, name in enumerate(names, start=1)
        ]

    due_at = working_days_after(stub.received_at, PROCESSING_DAYS)
    final: Final = "processed"
    if summary.status in ("returned", "rejected"):
        final = "returned" if summary.status == "returned" else "rejected"
    returned_at = stub.end_at + timedelta(
        minutes=keyed_random(seed, "dossier-returned", dossier_id).randint(10, 240)
    )
    return DossierDetail(
        **summary.model_dump(),
        entity_name=entity_record(seed, kind, summary.entity_code).name,
        due_at=due_at,
        components=files("component", procedure.components),
        results=files("result", results),
        history=status_history(
            seed,
            dossier_id,
            received_at=stub.received_at,
            end_at=stub.end_at,
            due_at=due_at,
            final=final,
            returned_at=returned_at,
            pause_notes=_PAUSE_NOTES,
            rejection_note=_REJECTION,
        ),
    )


def file_document(seed: int, file_id: str) -> tuple[str, bytes]:
    """``(document name, PDF bytes)`` of a dossier file; :class:`UnknownDossier` if none."""
    parsed = parse_file_id(file_id)
    dossier = parse_dossier_id(parsed[0]) if parsed else None
    spec = _BY_DOSSIER_KIND.get(dossier[0]) if dossier else None
    if parsed is None or spec is None:
        raise UnknownDossier(file_id)
    detail = dossier_detail(seed, spec.kind, parsed[0])
    for document in detail.components + detail.results:
        if document.file_id == file_id:
            return document.name, pdf_bytes(seed, file_id, document.name)
    raise UnknownDossier(file_id)


# -- routes --------------------------------------------------------------------------------

router = APIRouter(prefix="/v1", route_class=OperationRoute, tags=["business-registry"])
_PROVINCE_CODES = [p.code for p in PROVINCES]
FromQuery = Annotated[WireDatetime, Query(alias="from", description=WINDOW_FROM_DESCRIPTION)]
ToQuery = Annotated[WireDatetime, Query(alias="to", description=WINDOW_TO_DESCRIPTION)]
ProvinceQuery = Annotated[
    str | None,
    Query(
        description="Only dossiers of this province (mã tỉnh); all provinces if absent.",
        # The 63 codes as an enum, so the contract names every valid value; the handler
        # answers any other with a clear 422.
        json_schema_extra={"anyOf": [{"type": "string", "enum": _PROVINCE_CODES}]},
    ),
]
PageQuery = Annotated[int, Query(ge=1, description="1-based page number.")]
SizeQuery = Annotated[int, Query(ge=1, le=100, description="Page size, 1–100.")]


def _op(operation_id: str) -> dict[str, Any]:
    op = operation(PROVIDER, operation_id)
    return {
        "path": op.path.removeprefix("/v1"),
        "operation_id": operation_id,
        "summary": op.summary,
    }


def _register(spec: KindSpec) -> None:
    """The lookup, window and detail routes of one kind, as the catalogue names them."""
    kind, noun = spec.kind, spec.noun
    code_pattern, code_description = {
        "enterprise": (ENTERPRISE_CODE_PATTERN, ENTERPRISE_CODE_DESCRIPTION),
        "household_business": (
            HOUSEHOLD_BUSINESS_CODE_PATTERN,
            HOUSEHOLD_BUSINESS_CODE_DESCRIPTION,
        ),
        "cooperative": (ENTERPRISE_CODE_PATTERN, COOPERATIVE_CODE_DESCRIPTION),
    }[kind]
    CodePath = Annotated[str, Path(pattern=code_pattern, description=code_description)]
    DossierIdPath = Annotated[
        str, Path(pattern=dossier_id_pattern(spec.dossier_kind), description=DOSSIER_ID_DESCRIPTION)
    ]

    @router.get(**_op(f"get_{kind}"), responses=problem_responses(404, 422))
    def get_entity(request: Request, code: CodePath) -> Entity:
        try:
            return entity_record(request.app.state.seed, kind, code)
        except UnknownEntity:
            raise not_found(f"No {noun} has code {code}.") from None

    @router.get(
        **_op(f"list_{kind}_dossiers"),
        responses=problem_responses(422),
        response_model=KIND_PAGES[kind],  # this kind's ids only
    )
    def list_dossiers(
        request: Request,
        start: FromQuery,
        end: ToQuery,
        province: ProvinceQuery = None,
        page: PageQuery = 1,
        size: SizeQuery = 20,
    ) -> DossierPage:
        if province is not None and province not in _PROVINCE_CODES:
            raise ProblemError(
                422, "invalid_request", "Invalid request", f"Unknown province code {province}."
            )
        return dossier_page(request.app.state.seed, kind, start, end, province, page, size)

    @router.get(**_op(f"get_{kind}_dossier"), responses=problem_responses(404, 422))
    def get_dossier(request: Request, dossier_id: DossierIdPath) -> DossierDetail:
        try:
            return dossier_detail(request.app.state.seed, kind, dossier_id)
        except UnknownDossier:
            raise not_found(f"No {noun} dossier has id {dossier_id}.") from None


for _spec in KINDS.values():
    _register(_spec)

FileIdPath = Annotated[str, Path(pattern=FILE_ID_PATTERN, description=FILE_ID_DESCRIPTION)]
_PDF_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The file, as a PDF (application/pdf) with Content-Disposition.",
        "content": {"application/pdf": {"schema": {"type": "string", "format": "binary"}}},
    }
}


@router.get(
    **_op("download_file"),
    response_class=Response,
    responses={**_PDF_RESPONSE, **problem_responses(404, 422)},
)
def download_file(request: Request, file_id: FileIdPath) -> Response:
    """A dossier component or result as a small PDF (tải tệp đính kèm)."""
    try:
        name, content = file_document(request.app.state.seed, file_id)
    except UnknownDossier:
        raise not_found(f"No dossier file has id {file_id}.") from None
    disposition = f"attachment; filename=\"{file_id}.pdf\"; filename*=UTF-8''{quote(name)}.pdf"
    return Response(
        content, media_type="application/pdf", headers={"Content-Disposition": disposition}
    )


def examples(seed: int) -> Mapping[str, Example]:
    """One documented call per operation, answered by the same functions as the routes."""
    found: dict[str, Example] = {}
    first_result = ""
    for kind, spec in KINDS.items():
        day = date(2024, 6, 3)  # a Monday; move on until Thanh Hóa has a dossier of this kind
        while True:
            start = datetime.combine(day, time(), VIETNAM_TZ)
            end = start + timedelta(days=1)
            page = dossier_page(seed, kind, start, end, "038", 1, 3)
            if page.items:
                break
            day += timedelta(days=1)
        # UTC with "Z": a "+07:00" offset would need escaping in the documented curl line.
        query: dict[str, object] = {
            "from": f"{start.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
            "to": f"{end.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}",
            "province": "038",
            "page": 1,
            "size": 3,
        }
        detail = dossier_detail(seed, kind, page.items[0].dossier_id)
        entity = entity_record(seed, kind, detail.entity_code)
        first_result = first_result or detail.results[0].file_id
        found[f"get_{kind}"] = Example(
            f"the {spec.noun} of the first dossier below", {"code": entity.code}, response=entity
        )
        found[f"list_{kind}_dossiers"] = Example(
            f"a day of {spec.noun} dossiers in Thanh Hóa", query=query, response=page
        )
        found[f"get_{kind}_dossier"] = Example(
            "the first dossier of that day", {"dossier_id": detail.dossier_id}, response=detail
        )
    found["download_file"] = Example(
        "the result of that enterprise dossier", {"file_id": first_result}
    )
    return found


INFO = ServiceInfo(
    provider=PROVIDER,
    title="Business registration database — CSDLQG về đăng ký doanh nghiệp (mock)",
    description=(
        "Mock of the national business registration database (Cơ sở dữ liệu quốc gia về đăng ký "
        "doanh nghiệp, Ministry of Planning and Investment). For enterprises, household "
        "businesses and cooperatives: lookup by code, dossiers whose processing ended in a time "
        "window (at most 31 days, paginated, optionally one province), and dossier detail with "
        "the file ids of components and results; plus file download (PDF). Synthetic, "
        "deterministic data; representatives are citizens of the population mock."
    ),
)


def create_app(settings: Settings) -> FastAPI:
    """The business-registration mock: exactly ``contracts/openapi/business-registry.yaml``."""
    return create_service_app(INFO, router, settings, state={"examples": examples})


__all__ = [
    "create_app",
    "dossier_detail",
    "dossier_page",
    "file_document",
]
