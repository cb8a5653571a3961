"""Business registration — *Cơ sở dữ liệu quốc gia về đăng ký doanh nghiệp* (CSDLQG về đăng ký
doanh nghiệp), Ministry of Planning and Investment.

Nine operations, three per kind of registered entity — enterprise (*doanh nghiệp*), household
business (*hộ kinh doanh*), cooperative (*hợp tác xã*): lookup by code, the dossiers processed
in a time window, one dossier's detail (components and results with file ids) — plus the
download of a file by id. One :class:`Entity`, :class:`DossierPage` and :class:`DossierDetail`
serve all three kinds; ``kind`` / ``entity_kind`` says which.

Codes:
- Enterprises and cooperatives: the 10-digit enterprise / cooperative code (*mã số doanh
  nghiệp*, *mã số hợp tác xã*), which is also the tax code (*mã số thuế*): nine digits and a
  check digit (weights 31, 29, 23, 19, 17, 13, 7, 5, 3; check = 10 − sum mod 11).
- Household businesses: the registration number (*số đăng ký hộ kinh doanh*) in the layout of
  certificates issued by district registration offices: two-digit province prefix, a district
  letter, the type digit ``8`` and a six-digit serial, e.g. ``38B8012345``.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field

from contracts.common import (
    LifecycleStatus,
    PersonalId,
    ProvinceCode,
    StatusTransition,
    Timestamp,
    WireModel,
)

EntityKind = Literal["enterprise", "household_business", "cooperative"]
ENTERPRISE_CODE_PATTERN = r"^\d{10}$"
ENTERPRISE_CODE_DESCRIPTION = (
    "10-digit enterprise code (mã số doanh nghiệp), also the tax code; the last digit is a check "
    "digit."
)
COOPERATIVE_CODE_DESCRIPTION = (
    "10-digit cooperative code (mã số hợp tác xã), also the tax code; the last digit is a check "
    "digit."
)
HOUSEHOLD_BUSINESS_CODE_PATTERN = r"^\d{2}[A-Z]8\d{6}$"
HOUSEHOLD_BUSINESS_CODE_DESCRIPTION = (
    "Household-business registration number (số đăng ký hộ kinh doanh): province prefix (2 "
    "digits: the province code without its leading 0), district letter (1), type digit 8, "
    "serial (6), e.g. 38B8012345."
)
ENTITY_CODE_PATTERN = r"^(\d{10}|\d{2}[A-Z]8\d{6})$"
PROCEDURE_CODE_PATTERN = r"^\d\.\d{6}$"
DOSSIER_ID_DESCRIPTION = (
    "Dossier id (mã hồ sơ): kind (DN enterprise, HKD household business, HTX cooperative), "
    "province code, local day the processing ended (YYYYMMDD), ordinal that day, e.g. "
    "DN-038-20240603-00017."
)
DOSSIER_ID_PATTERN = r"^(DN|HKD|HTX)-\d{3}-\d{8}-\d{5}$"
DossierId = Annotated[str, Field(pattern=DOSSIER_ID_PATTERN, description=DOSSIER_ID_DESCRIPTION)]
FILE_ID_PATTERN = r"^(DN|HKD|HTX)-\d{3}-\d{8}-\d{5}-(component|result)-\d{2}$"
FILE_ID_DESCRIPTION = (
    "File id (mã tệp): the dossier id, the role (component / result) and a 1-based index, e.g. "
    "DN-038-20240603-00017-result-01; download it at /v1/files/{file_id}."
)
FileId = Annotated[str, Field(pattern=FILE_ID_PATTERN, description=FILE_ID_DESCRIPTION)]
EntityStatus = Literal[
    "active", "suspended", "dissolving", "dissolved", "not_at_registered_address"
]
DossierStatus = LifecycleStatus


class BusinessLine(WireModel):
    """A line of business of the Vietnam standard industrial classification (ngành VSIC 2018)."""

    code: str = Field(pattern=r"^\d{4}$", description="VSIC 2018 level-4 code (mã ngành).")
    name: str = Field(description="Name of the line of business (tên ngành).")


class Representative(WireModel):
    """The legal representative, household-business owner or cooperative chair — a citizen."""

    personal_id: PersonalId
    full_name: str = Field(description="Full name (họ và tên), as in the population database.")
    date_of_birth: date = Field(description="Date of birth (ngày sinh).")
    position: str = Field(
        description="Position (chức danh), e.g. Giám đốc, Chủ hộ kinh doanh, Chủ tịch Hội đồng "
        "quản trị."
    )


class Entity(WireModel):
    """A registered enterprise, household business or cooperative (thông tin đăng ký)."""

    kind: EntityKind = Field(description="Kind of entity (loại chủ thể).")
    code: str = Field(
        pattern=ENTITY_CODE_PATTERN,
        description="Enterprise / cooperative code (10 digits) or household-business "
        "registration number (số đăng ký hộ kinh doanh).",
    )
    name: str = Field(description="Registered name in Vietnamese (tên bằng tiếng Việt).")
    legal_form: str = Field(
        description="Legal form (loại hình), e.g. Công ty trách nhiệm hữu hạn một thành viên, "
        "Hộ kinh doanh, Hợp tác xã."
    )
    status: EntityStatus = Field(
        description="Legal status (tình trạng pháp lý): active (đang hoạt động), suspended (tạm "
        "ngừng kinh doanh), dissolving (đang làm thủ tục giải thể), dissolved (đã giải thể), "
        "not_at_registered_address (không hoạt động tại địa chỉ đã đăng ký)."
    )
    registered_on: date = Field(description="Date of first registration (ngày đăng ký lần đầu).")
    province_code: ProvinceCode
    registered_address: str = Field(
        description="Head-office address (địa chỉ trụ sở chính / địa điểm kinh doanh)."
    )
    main_business_line: BusinessLine = Field(
        description="Main line of business (ngành, nghề kinh doanh chính)."
    )
    capital_vnd: int = Field(
        ge=0,
        description="Charter capital (vốn điều lệ), investment capital of a private enterprise "
        "(vốn đầu tư) or business capital of a household (vốn kinh doanh), in đồng.",
    )
    representative: Representative = Field(
        description="Legal representative (người đại diện theo pháp luật) or household-business "
        "owner (chủ hộ kinh doanh)."
    )
    phone: str | None = Field(
        pattern=r"^0\d{8,10}$", description="Phone number (điện thoại); often missing."
    )
    member_count: int | None = Field(
        ge=5,
        description="Number of members (số thành viên), cooperatives only; null for others.",
    )


class DossierFile(WireModel):
    """One file of a dossier: a component submitted or a result issued (tệp đính kèm)."""

    name: str = Field(description="Document name (tên giấy tờ).")
    file_id: FileId


class DossierSummary(WireModel):
    """One dossier in a window listing (hồ sơ đã xử lý)."""

    dossier_id: DossierId
    entity_kind: EntityKind
    entity_code: str = Field(
        pattern=ENTITY_CODE_PATTERN,
        description="Code of the entity the dossier concerns; look it up with the kind's lookup.",
    )
    procedure_code: str = Field(
        pattern=PROCEDURE_CODE_PATTERN,
        description="Administrative procedure code (mã thủ tục hành chính) of the national "
        "catalogue, e.g. 2.001610.",
    )
    procedure_name: str = Field(description="Procedure name (tên thủ tục hành chính).")
    province_code: ProvinceCode
    received_at: Timestamp = Field(description="When the dossier was received (ngày tiếp nhận).")
    end_at: Timestamp = Field(
        description="When processing ended (ngày kết thúc xử lý); windows filter on it."
    )
    status: DossierStatus = Field(
        description="Current status (trạng thái): a dossier whose processing ended is processed "
        "(9, đã xử lý xong), returned (10, đã trả kết quả) or rejected (3, từ chối)."
    )


class DossierPage(WireModel):
    """Dossiers whose processing ended in ``[from, to)``, sorted by end time."""

    items: list[DossierSummary]
    page: int = Field(ge=1, description="1-based page number.")
    size: int = Field(ge=1, le=100, description="Page size.")
    total: int = Field(ge=0, description="Number of dossiers in the whole window.")


def _kind_dossier_id(prefix: str, example: str) -> Any:
    return Field(
        pattern=rf"^{prefix}-\d{{3}}-\d{{8}}-\d{{5}}$",
        description=f"{DOSSIER_ID_DESCRIPTION.split(':')[0]} of this kind, e.g. {example}.",
    )


# One page schema per kind: a page of enterprise dossiers holds DN- ids only, so the contract
# says so, and a client (or a stateful tester following the ids) cannot take an enterprise
# dossier id to the household-business detail.
class EnterpriseDossierSummary(DossierSummary):
    """One enterprise dossier in a window listing (hồ sơ doanh nghiệp)."""

    dossier_id: str = _kind_dossier_id("DN", "DN-038-20240603-00017")
    entity_kind: Literal["enterprise"]


class HouseholdBusinessDossierSummary(DossierSummary):
    """One household-business dossier in a window listing (hồ sơ hộ kinh doanh)."""

    dossier_id: str = _kind_dossier_id("HKD", "HKD-038-20240603-00004")
    entity_kind: Literal["household_business"]


class CooperativeDossierSummary(DossierSummary):
    """One cooperative dossier in a window listing (hồ sơ hợp tác xã)."""

    dossier_id: str = _kind_dossier_id("HTX", "HTX-038-20240603-00001")
    entity_kind: Literal["cooperative"]


class EnterpriseDossierPage(DossierPage):
    """Enterprise dossiers whose processing ended in ``[from, to)``, sorted by end time."""

    items: list[EnterpriseDossierSummary]  # type: ignore[assignment]  # narrower, read-only


class HouseholdBusinessDossierPage(DossierPage):
    """Household-business dossiers whose processing ended in ``[from, to)``, by end time."""

    items: list[HouseholdBusinessDossierSummary]  # type: ignore[assignment]  # narrower, read-only


class CooperativeDossierPage(DossierPage):
    """Cooperative dossiers whose processing ended in ``[from, to)``, sorted by end time."""

    items: list[CooperativeDossierSummary]  # type: ignore[assignment]  # narrower, read-only


KIND_PAGES: dict[str, type[DossierPage]] = {
    "enterprise": EnterpriseDossierPage,
    "household_business": HouseholdBusinessDossierPage,
    "cooperative": CooperativeDossierPage,
}


class DossierDetail(DossierSummary):
    """A dossier with its deadline, submitted components and issued results (chi tiết hồ sơ)."""

    entity_name: str = Field(description="Name of the entity (tên chủ thể).")
    due_at: Timestamp = Field(description="Legal deadline (hạn giải quyết).")
    components: list[DossierFile] = Field(
        description="Documents submitted (thành phần hồ sơ), each with a file id."
    )
    results: list[DossierFile] = Field(
        description="Documents issued (kết quả giải quyết), each with a file id."
    )
    history: list[StatusTransition] = Field(
        description="Every transition, oldest first (lịch sử xử lý): received, processing, "
        "paused (tạm dừng) while the applicant supplements the dossier, overdue (quá hạn) past "
        "due_at, then rejected, or processed (and returned)."
    )
