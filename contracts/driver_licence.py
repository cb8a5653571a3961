"""Driver licences — *Cơ sở dữ liệu giấy phép lái xe* (CSDL GPLX), Ministry of Transport.

Two services are shared with provincial systems: the licence lookup, in real time (number,
holder, classes, issue and expiry dates, status), and the renewal dossiers (*hồ sơ đổi giấy
phép lái xe*) processed in a time window, with their detail and result file. The reports
(row 20, 63) name seven renewal fields provinces did not receive — phone, e-health-certificate
reference, fees collected, current administrative unit, result date, return date, result
file — so :class:`RenewalDossier` makes every one of them required.

Classes are those in force on the data's reference date (31/12/2024): the scheme of the Road
Traffic Law 2008 and Circular 12/2017/TT-BGTVT (A1, A2, A3, A4, B1, B2, C, D, E, FB2, FC, FD,
FE); the 2024 Road Traffic Order and Safety Law's classes apply to licences issued from 2025.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from contracts.common import (
    LifecycleStatus,
    PersonalId,
    ProvinceCode,
    StatusTransition,
    Timestamp,
    WireModel,
)

LICENCE_NUMBER_PATTERN = r"^\d{12}$"
LICENCE_NUMBER_DESCRIPTION = "12-digit driver-licence number (số giấy phép lái xe)."
LicenceNumber = Annotated[
    str, Field(pattern=LICENCE_NUMBER_PATTERN, description=LICENCE_NUMBER_DESCRIPTION)
]
RENEWAL_DOSSIER_ID_PATTERN = r"^GPLX-\d{3}-\d{8}-\d{5}$"
RENEWAL_DOSSIER_ID_DESCRIPTION = (
    "Renewal dossier id (mã hồ sơ): GPLX, province code, local day the processing ended "
    "(YYYYMMDD), ordinal that day, e.g. GPLX-038-20240603-00017."
)
RESULT_FILE_ID_PATTERN = r"^GPLX-\d{3}-\d{8}-\d{5}-result-\d{2}$"
LicenceClass = Literal["A1", "A2", "A3", "A4", "B1", "B2", "C", "D", "E", "FB2", "FC", "FD", "FE"]
LicenceStatus = Literal["valid", "expired", "suspended", "revoked"]
RenewalStatus = LifecycleStatus


class LicenceClassGrant(WireModel):
    """One class on the licence (hạng) and its own dates."""

    licence_class: LicenceClass = Field(description="Class (hạng giấy phép lái xe).")
    issue_date: date = Field(description="Issue date of this class (ngày cấp).")
    expiry_date: date | None = Field(
        description="Expiry date (ngày hết hạn); null for A1, A2 and A3, which do not expire."
    )


class Licence(WireModel):
    """A driver licence as the national database shares it (tra cứu giấy phép lái xe)."""

    licence_number: LicenceNumber
    personal_id: PersonalId = Field(description="Holder's personal id (số định danh cá nhân).")
    full_name: str = Field(description="Holder's full name (họ và tên), as in the population.")
    date_of_birth: date = Field(description="Holder's date of birth (ngày sinh).")
    classes: list[LicenceClassGrant] = Field(min_length=1, description="Classes held (hạng).")
    issue_date: date = Field(description="Issue date of the card (ngày cấp): its latest class.")
    expiry_date: date | None = Field(
        description="Expiry date of the card (ngày hết hạn): its earliest expiring class; null "
        "if no class expires."
    )
    issuing_authority: str = Field(description="Issuing authority (cơ quan cấp).")
    status: LicenceStatus = Field(
        description="valid (còn hiệu lực), expired (hết hạn), suspended (bị tước quyền sử dụng "
        "có thời hạn), revoked (bị thu hồi)."
    )


class LicenceHolder(WireModel):
    """The licence holder, a citizen of the population database (người đề nghị)."""

    personal_id: PersonalId
    full_name: str = Field(description="Full name (họ và tên).")
    date_of_birth: date = Field(description="Date of birth (ngày sinh).")


class AdministrativeUnit(WireModel):
    """The holder's current administrative unit (đơn vị hành chính hiện hành)."""

    ward: str = Field(description="Ward or commune (phường / xã / thị trấn).")
    province_code: ProvinceCode
    province_name: str = Field(description="Province (tỉnh / thành phố), e.g. Tỉnh Thanh Hóa.")


class RenewalDossier(WireModel):
    """A licence renewal dossier (hồ sơ đổi giấy phép lái xe) and its result."""

    dossier_id: str = Field(
        pattern=RENEWAL_DOSSIER_ID_PATTERN, description=RENEWAL_DOSSIER_ID_DESCRIPTION
    )
    procedure_code: str = Field(
        pattern=r"^\d\.\d{6}$", description="Procedure code in the national catalogue (mã TTHC)."
    )
    procedure_name: str = Field(description="Procedure name (tên thủ tục hành chính).")
    province_code: ProvinceCode = Field(description="Province that processed it.")
    licence_number: LicenceNumber
    holder: LicenceHolder
    phone: str = Field(pattern=r"^0\d{8,10}$", description="Holder's phone number (số điện thoại).")
    health_certificate_ref: str = Field(
        pattern=r"^KSK\d{14}$",
        description="E-health-certificate reference (mã giấy khám sức khỏe điện tử): KSK, "
        "province code, exam day (YYMMDD), serial (5).",
    )
    fees_collected: int = Field(ge=0, description="Fees collected, VND (lệ phí đã thu).")
    current_administrative_unit: AdministrativeUnit
    received_at: Timestamp = Field(description="Received (ngày tiếp nhận).")
    result_date: Timestamp = Field(description="Result issued (ngày có kết quả).")
    return_date: Timestamp = Field(description="Result returned (ngày trả kết quả).")
    result_file_id: str = Field(
        pattern=RESULT_FILE_ID_PATTERN,
        description="Result file (tệp kết quả): download it at /v1/files/{file_id}.",
    )
    status: RenewalStatus = Field(
        description="Current status (trạng thái): a dossier whose processing ended is returned "
        "(10, đã trả kết quả: the new licence) or rejected (3, từ chối: the result file is the "
        "refusal notice)."
    )
    history: list[StatusTransition] = Field(
        description="Every transition, oldest first (lịch sử xử lý): received, processing, "
        "paused (tạm dừng) while the holder supplements the file, overdue (quá hạn) past the "
        "deadline, then rejected, or processed and returned."
    )


class RenewalDossierPage(WireModel):
    """Renewal dossiers whose processing ended in ``[from, to)``, sorted by end time."""

    items: list[RenewalDossier]
    page: int = Field(ge=1, description="1-based page number.")
    size: int = Field(ge=1, le=100, description="Page size.")
    total: int = Field(ge=0, description="Number of dossiers in the whole window.")
