"""Population, contract v2 — served at ``/v2`` beside v1 (``contracts/openapi/population.v2.yaml``).

A realistic evolution of :mod:`contracts.population`, with breaking and non-breaking changes,
so that ``ndxp-sim contracts diff`` and the gateway's contract check have something real to
find (FM-08, unannounced contract changes):

- ``id_card_issue_date`` is renamed ``id_card_issued_on`` (breaking for a v1 reader);
- ``date_of_birth`` becomes a *partial* date string (``1948``, ``1948-05`` or ``1948-05-17``):
  old paper records hold only a year (type/format change: breaking);
- a household member may be a ``grandchild`` or ``other`` relative (enum values added to a
  response: breaking for a strict client that switches on the value);
- a citizen verification must state the procedure it serves (``procedure_code``, the TTHC
  code): a new *required request* field (breaking);
- ``electronic_id_level`` (VNeID level 1 or 2) is added, optional (non-breaking).

Household verification and the old-ID mapping are carried over unchanged.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field

from contracts.common import Gender, PersonalId, WireDate, WireModel
from contracts.population import (
    BloodType,
    HouseholdVerification,
    LegacyIdMapping,
    MaritalStatus,
    OldIdNumber,
    SpouseInfo,
    VerificationResult,
)

PARTIAL_DATE_PATTERN = r"^\d{4}(-\d{2}(-\d{2})?)?$"
PARTIAL_DATE_DESCRIPTION = (
    "Date of birth (ngày, tháng, năm sinh) as recorded: YYYY-MM-DD, or YYYY-MM / YYYY when the "
    "record holds only the month or the year."
)
PROCEDURE_CODE_PATTERN = r"^\d\.\d{6}$"
Relationship = Literal["head", "spouse", "child", "grandchild", "other"]


def partial_date(day: date) -> str:
    """A full date in the v2 partial-date form."""
    return day.isoformat()


class ParentInfo(WireModel):
    personal_id: PersonalId
    full_name: str = Field(description="Full name (họ, chữ đệm và tên).")
    date_of_birth: str = Field(pattern=PARTIAL_DATE_PATTERN, description=PARTIAL_DATE_DESCRIPTION)


class Household(WireModel):
    household_id: str = Field(pattern=r"^\d{12}$", description="Household number (số hộ).")
    head_personal_id: PersonalId = Field(description="Household head's personal id (chủ hộ).")
    head_full_name: str
    relationship_to_head: Relationship = Field(
        description="Relationship to the household head (quan hệ với chủ hộ)."
    )


class Citizen(WireModel):
    """The 20 shared fields, v2 (see the module's list of changes)."""

    personal_id: PersonalId
    full_name: str = Field(description="Full name (họ, chữ đệm và tên khai sinh).")
    date_of_birth: str = Field(pattern=PARTIAL_DATE_PATTERN, description=PARTIAL_DATE_DESCRIPTION)
    gender: Gender = Field(description="Gender (giới tính).")
    birth_registration_place: str = Field(
        description="Place of birth registration (nơi đăng ký khai sinh)."
    )
    place_of_origin: str = Field(description="Place of origin (quê quán).")
    ethnicity: str = Field(description="Ethnicity (dân tộc).")
    religion: str | None = Field(description="Religion (tôn giáo); often empty.")
    nationality: str = Field(description="Nationality (quốc tịch).")
    blood_type: BloodType | None = Field(description="Blood type (nhóm máu); often empty.")
    old_id_number: OldIdNumber | None = Field(description="Old 9-digit ID (số CMND), if any.")
    id_card_issued_on: date | None = Field(description="ID-card issue date (ngày cấp CCCD).")
    permanent_address: str = Field(description="Permanent residence (nơi thường trú).")
    current_address: str = Field(description="Current residence (nơi ở hiện tại).")
    household: Household
    father: ParentInfo | None = Field(description="Father (cha); null if not in the database.")
    mother: ParentInfo | None = Field(description="Mother (mẹ); null if not in the database.")
    spouse: SpouseInfo | None = Field(description="Spouse (vợ / chồng), if married.")
    marital_status: MaritalStatus = Field(description="Marital status (tình trạng hôn nhân).")
    phone: str | None = Field(
        pattern=r"^0\d{8,10}$", description="Phone number (số điện thoại), national format."
    )
    electronic_id_level: Literal[1, 2] | None = Field(
        default=None, description="VNeID electronic identification level (mức định danh điện tử)."
    )


class CitizenVerification(WireModel):
    """v1's verification plus the procedure the check serves (mã thủ tục hành chính)."""

    personal_id: PersonalId
    full_name: str = Field(min_length=1, max_length=200)
    date_of_birth: WireDate
    procedure_code: str = Field(
        pattern=PROCEDURE_CODE_PATTERN,
        description="The administrative procedure (mã TTHC) the verification serves, e.g. "
        "1.001612.",
    )


__all__ = [
    "Citizen",
    "CitizenVerification",
    "Household",
    "HouseholdVerification",
    "LegacyIdMapping",
    "ParentInfo",
    "VerificationResult",
    "partial_date",
]
