"""Population — *Cơ sở dữ liệu quốc gia về dân cư* (CSDLQG về dân cư), Ministry of Public
Security (C06).

The Law on Identification 2023 (Art. 9) defines 26 fields; 20 are shared with provincial
systems (CV 761/VPCP-KSTT), through one lookup and two verifications (household; old 9-digit
ID → 12-digit personal id). :class:`Citizen` carries those 20 shared fields.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Literal

from pydantic import Field

from contracts.common import Gender, PersonalId, WireDate, WireModel

OLD_ID_PATTERN = r"^\d{9}$"
OLD_ID_DESCRIPTION = "Old 9-digit identity card number (số chứng minh nhân dân, CMND)."
OldIdNumber = Annotated[str, Field(pattern=OLD_ID_PATTERN, description=OLD_ID_DESCRIPTION)]
MaritalStatus = Literal["single", "married", "divorced", "widowed"]
BloodType = Literal["A", "B", "AB", "O"]


class ParentInfo(WireModel):
    """A parent as the population database knows them (thông tin cha / mẹ)."""

    personal_id: PersonalId
    full_name: str = Field(description="Full name (họ, chữ đệm và tên).")
    date_of_birth: date = Field(description="Date of birth (ngày, tháng, năm sinh).")


class SpouseInfo(WireModel):
    """Spouse (thông tin vợ / chồng). Often inaccurate in the real database (report row 72)."""

    personal_id: PersonalId
    full_name: str


class Household(WireModel):
    """The citizen's household (thông tin hộ gia đình)."""

    household_id: str = Field(pattern=r"^\d{12}$", description="Household number (số hộ).")
    head_personal_id: PersonalId = Field(description="Household head's personal id (chủ hộ).")
    head_full_name: str
    relationship_to_head: Literal["head", "spouse", "child"] = Field(
        description="Relationship to the household head (quan hệ với chủ hộ)."
    )


class Citizen(WireModel):
    """The 20 fields shared with provincial systems (20 trường thông tin được chia sẻ)."""

    personal_id: PersonalId
    full_name: str = Field(description="Full name (họ, chữ đệm và tên khai sinh).")
    date_of_birth: date = Field(description="Date of birth (ngày, tháng, năm sinh).")
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
    id_card_issue_date: date | None = Field(description="ID-card issue date (ngày cấp CCCD).")
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


class CitizenVerification(WireModel):
    """Does this id belong to this name and date of birth? (xác thực thông tin công dân)"""

    personal_id: PersonalId
    full_name: str = Field(min_length=1, max_length=200)
    date_of_birth: WireDate


class HouseholdVerification(WireModel):
    """Is this citizen a member of the household headed by this person?"""

    personal_id: PersonalId
    head_personal_id: PersonalId


class VerificationResult(WireModel):
    """The answer of a verification: a match or not, never the record itself."""

    match: bool = Field(
        description="True only if every input matches; an unknown id is simply no match."
    )


class LegacyIdMapping(WireModel):
    """Old 9-digit ID → 12-digit personal id (chuyển đổi số CMND sang số định danh cá nhân)."""

    old_id_number: OldIdNumber
    personal_id: PersonalId
