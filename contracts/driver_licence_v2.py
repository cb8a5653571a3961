"""Driver licences, contract v2 — served at ``/v2`` beside v1
(``contracts/openapi/driver-licence.v2.yaml``).

The evolution the 2024 Road Traffic Order and Safety Law (in force 1/1/2025) brings to
:mod:`contracts.driver_licence`, with breaking and non-breaking changes:

- licence classes gain the 2025 scheme (A, B, C1, D1, D2, BE, C1E, CE, D1E, D2E, DE) beside
  the classes of licences issued before 2025, which stay valid (enum values added to a
  response: breaking for a strict client);
- every licence carries its points (điểm giấy phép lái xe, 12 at most): a new required
  response field (non-breaking);
- ``issuing_authority`` is renamed ``issued_by`` (breaking);
- ``fees_collected`` becomes a list of items, the fee (phí) and the charge (lệ phí) apart,
  instead of one total (type change: breaking).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from contracts.common import PersonalId, ProvinceCode, StatusTransition, Timestamp, WireModel
from contracts.driver_licence import (
    RENEWAL_DOSSIER_ID_DESCRIPTION,
    RENEWAL_DOSSIER_ID_PATTERN,
    RESULT_FILE_ID_PATTERN,
    AdministrativeUnit,
    LicenceHolder,
    LicenceNumber,
    LicenceStatus,
    RenewalStatus,
)

LicenceClass = Literal[
    "A1", "A2", "A3", "A4", "B1", "B2", "C", "D", "E", "FB2", "FC", "FD", "FE",  # before 2025
    "A", "B", "C1", "D1", "D2", "BE", "C1E", "CE", "D1E", "D2E", "DE",  # 2025 scheme
]  # fmt: skip
MAX_POINTS = 12


class LicenceClassGrant(WireModel):
    licence_class: LicenceClass = Field(description="Class (hạng giấy phép lái xe).")
    issue_date: date = Field(description="Issue date of this class (ngày cấp).")
    expiry_date: date | None = Field(description="Expiry date (ngày hết hạn); null if none.")


class Licence(WireModel):
    """A driver licence, v2 (see the module's list of changes)."""

    licence_number: LicenceNumber
    personal_id: PersonalId = Field(description="Holder's personal id (số định danh cá nhân).")
    full_name: str = Field(description="Holder's full name (họ và tên), as in the population.")
    date_of_birth: date = Field(description="Holder's date of birth (ngày sinh).")
    classes: list[LicenceClassGrant] = Field(min_length=1, description="Classes held (hạng).")
    issue_date: date = Field(description="Issue date of the card (ngày cấp): its latest class.")
    expiry_date: date | None = Field(
        description="Expiry date of the card: its earliest expiring class; null if none."
    )
    issued_by: str = Field(description="Issuing authority (cơ quan cấp).")
    status: LicenceStatus = Field(description="valid, expired, suspended, revoked.")
    points: int = Field(
        ge=0, le=MAX_POINTS, description="Points left (điểm giấy phép lái xe), 12 at most."
    )


class FeeItem(WireModel):
    """One amount collected for a renewal."""

    kind: Literal["fee", "charge"] = Field(description="fee (phí) or charge (lệ phí).")
    amount: int = Field(ge=0, description="VND.")


class RenewalDossier(WireModel):
    """A licence renewal dossier, v2: fees itemised."""

    dossier_id: str = Field(
        pattern=RENEWAL_DOSSIER_ID_PATTERN, description=RENEWAL_DOSSIER_ID_DESCRIPTION
    )
    procedure_code: str = Field(pattern=r"^\d\.\d{6}$", description="Procedure code (mã TTHC).")
    procedure_name: str = Field(description="Procedure name (tên thủ tục hành chính).")
    province_code: ProvinceCode = Field(description="Province that processed it.")
    licence_number: LicenceNumber
    holder: LicenceHolder
    phone: str = Field(pattern=r"^0\d{8,10}$", description="Holder's phone number (số điện thoại).")
    health_certificate_ref: str = Field(
        pattern=r"^KSK\d{14}$", description="E-health-certificate reference (giấy khám sức khỏe)."
    )
    fees_collected: list[FeeItem] = Field(description="Fee and charge collected (phí, lệ phí).")
    current_administrative_unit: AdministrativeUnit
    received_at: Timestamp = Field(description="Received (ngày tiếp nhận).")
    result_date: Timestamp = Field(description="Result issued (ngày có kết quả).")
    return_date: Timestamp = Field(description="Result returned (ngày trả kết quả).")
    result_file_id: str = Field(
        pattern=RESULT_FILE_ID_PATTERN,
        description="Result file (tệp kết quả): download it at /v2/files/{file_id}.",
    )
    status: RenewalStatus = Field(description="Current status (trạng thái).")
    history: list[StatusTransition] = Field(description="Every transition, oldest first.")


class RenewalDossierPage(WireModel):
    items: list[RenewalDossier]
    page: int = Field(ge=1, description="1-based page number.")
    size: int = Field(ge=1, le=100, description="Page size.")
    total: int = Field(ge=0, description="Number of dossiers in the whole window.")
