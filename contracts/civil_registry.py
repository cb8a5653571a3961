"""Civil registry — *hệ thống hộ tịch* (Cơ sở dữ liệu hộ tịch điện tử), Ministry of Justice.

Provincial one-stop systems forward birth registrations (*đăng ký khai sinh*) and death
registrations (*đăng ký khai tử*) and read back status and result. A submission is idempotent
on the province's dossier code (*mã hồ sơ*): a repeat returns the same registration. The
status follows the DVCQG codes that provinces sync: received (2), rejected (3), processing (4),
paused (5), overdue (4: still processing, past ``due_at``), processed (9), returned (10).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic.json_schema import SkipJsonSchema

from contracts.common import (
    FullName,
    Gender,
    LifecycleStatus,
    PersonalId,
    ProvinceCode,
    StatusCode,
    StatusTransition,
    Timestamp,
    WireDate,
    WireModel,
)
from contracts.dossiers import dossier_code_field, province_code_field, refuse_null

RegistrationKind = Literal["birth", "death"]
RegistrationStatus = LifecycleStatus

REGISTRATION_ID_PATTERN = r"^K[ST]\d{13}$"
REGISTRATION_ID_DESCRIPTION = (
    "Registration id (số đăng ký): KS (khai sinh, birth) or KT (khai tử, death), the province "
    "code (3) and 10 digits."
)
DossierCode = Annotated[
    str, dossier_code_field("a submission", example="000.00.38.H56-241230-0001")
]
Place = Annotated[str, Field(min_length=1, max_length=300)]
RegisteringProvince = Annotated[
    str,
    province_code_field("Registering province (nơi đăng ký): its three-digit code (mã tỉnh)."),
]


class CitizenRef(WireModel):
    """A person already in the population database, as the form names them.

    All three values must equal the population record (``people.person``), else the
    submission is refused with 422 ``citizen_mismatch``.
    """

    personal_id: PersonalId
    full_name: FullName
    date_of_birth: WireDate = Field(description="Date of birth (ngày, tháng, năm sinh).")


class Newborn(WireModel):
    """The child being registered (người được khai sinh); not yet a citizen."""

    full_name: FullName
    date_of_birth: WireDate = Field(description="Date of birth (ngày sinh); not in the future.")
    gender: Gender = Field(description="Gender (giới tính).")
    place_of_birth: Place = Field(description="Place of birth (nơi sinh).")


class BirthRegistrationRequest(WireModel):
    """A birth registration dossier (hồ sơ đăng ký khai sinh); at least one parent."""

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={"anyOf": [{"required": ["father"]}, {"required": ["mother"]}]},
    )

    dossier_code: DossierCode
    province_code: RegisteringProvince
    child: Newborn
    # None is accepted from Python callers but not published: the schema says "omit it".
    father: CitizenRef | SkipJsonSchema[None] = Field(default=None, description="Father (cha).")
    mother: CitizenRef | SkipJsonSchema[None] = Field(default=None, description="Mother (mẹ).")

    # The schema says "omit a parent you do not name": a JSON null is not a parent.
    _omitted_not_null = field_validator("father", "mother", mode="before")(
        refuse_null("the parent")
    )

    @model_validator(mode="after")
    def _at_least_one_parent(self) -> BirthRegistrationRequest:
        if self.father is None and self.mother is None:
            raise ValueError("name at least one parent (father or mother)")
        return self


class DeathRegistrationRequest(WireModel):
    """A death registration dossier (hồ sơ đăng ký khai tử)."""

    dossier_code: DossierCode
    province_code: RegisteringProvince
    deceased: CitizenRef = Field(description="The deceased (người chết).")
    date_of_death: WireDate = Field(
        description="Date of death (ngày chết); not before the date of birth nor in the future."
    )
    place_of_death: Place = Field(description="Place of death (nơi chết).")


class RegistrationResult(WireModel):
    """What a processed registration produced (kết quả)."""

    certificate_number: str = Field(
        description="Birth-certificate number (số giấy khai sinh) or death-record extract "
        "number (số trích lục khai tử), as number/year.",
        examples=["1234/2024"],
    )
    child_personal_id: PersonalId | None = Field(
        description="Birth: the newborn's new personal id (serial 010000 and above, so it never "
        "collides with a population citizen; newborns are not in the population mock). "
        "Death: null."
    )


class Registration(WireModel):
    """A registration and where it is in its lifecycle (hồ sơ hộ tịch và trạng thái)."""

    registration_id: str = Field(
        pattern=REGISTRATION_ID_PATTERN, description=REGISTRATION_ID_DESCRIPTION
    )
    kind: RegistrationKind = Field(description="birth (khai sinh) or death (khai tử).")
    province_code: ProvinceCode
    dossier_code: DossierCode
    status: RegistrationStatus = Field(description="Current status (trạng thái).")
    status_code: StatusCode = Field(description="DVCQG status code (mã trạng thái).")
    received_at: Timestamp = Field(description="When it was received (ngày tiếp nhận).")
    due_at: Timestamp = Field(description="Processing deadline (hạn xử lý).")
    status_changed_at: Timestamp = Field(description="When the current status began.")
    processed_at: Timestamp | None = Field(description="Processed (9) at (ngày có kết quả).")
    returned_at: Timestamp | None = Field(description="Returned (10) at (ngày trả kết quả).")
    result: RegistrationResult | None = Field(description="Set once processed; else null.")
    history: list[StatusTransition] = Field(
        description="Every transition so far, oldest first (lịch sử xử lý)."
    )


# A status-changes cursor names a position, (instant in µs, registration sequence, step): any
# text of this form is one (a position past the end lists nothing), so the pattern is the rule.
CURSOR_PATTERN = r"^\d{1,18}\.\d{1,19}\.\d{1,3}$"
CURSOR_DESCRIPTION = (
    "`next_cursor` of the previous page: continue strictly after it. Treat it as opaque: its "
    "form (`<µs>.<seq>.<step>`) is published only so that the contract states what is valid."
)


class StatusChange(WireModel):
    """A transition, for provinces that sync statuses (đồng bộ trạng thái hồ sơ)."""

    registration_id: str = Field(pattern=REGISTRATION_ID_PATTERN)
    kind: RegistrationKind
    province_code: ProvinceCode
    dossier_code: DossierCode
    status: RegistrationStatus
    status_code: StatusCode
    at: Timestamp
    note: str | None


class StatusChangePage(WireModel):
    """Transitions in (since, now], oldest first; continue with ``next_cursor``."""

    items: list[StatusChange]
    until: Timestamp = Field(
        description="The server's now: no transition after it is listed (none from the future)."
    )
    has_more: bool = Field(description="True if the limit cut the list: call again at once.")
    next_cursor: str | None = Field(
        pattern=CURSOR_PATTERN,
        description="Pass as `cursor` to continue after the last item (ties on `at` included); "
        "null when no item was returned (keep your cursor).",
    )
