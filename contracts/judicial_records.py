"""Judicial records — *lý lịch tư pháp* (Trung tâm Lý lịch tư pháp quốc gia, Ministry of Justice).

Provincial one-stop systems forward requests for a criminal-record certificate (*Phiếu lý lịch
tư pháp*) and read back status and the certificate. A request is idempotent on the province's
dossier code (*mã hồ sơ*): a repeat returns the same request. Two certificate types (Law on
Judicial Records 2009, Art. 41–43): *số 1* lists only convictions not yet expunged (*án tích
chưa được xóa*), for the applicant's own use or an employer; *số 2* lists every conviction,
expunged or not, with the sentence's details. The status runs received (2) → verifying (4) →
issued (9) or rejected (3), in DVCQG codes.

The applicant is named by personal id only: the certificate's name, date of birth, gender and
birthplace come from the population database (Hải Phòng asks exactly this, row 70: fill the
LLTP form from the CCCD number). A full name or date of birth, if sent, must match it.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    SerializerFunctionWrapHandler,
    field_validator,
    model_serializer,
)
from pydantic.json_schema import SkipJsonSchema

from contracts.common import (
    FullName,
    Gender,
    PersonalId,
    ProvinceCode,
    Timestamp,
    WireDate,
    WireModel,
)
from contracts.dossiers import dossier_code_field, province_code_field, refuse_null

CertificateType = Literal["so_1", "so_2"]
RequestStatus = Literal["received", "verifying", "issued", "rejected"]
RequestStatusCode = Literal[2, 3, 4, 9]
# DVCQG codes, as provinces sync them: verifying is processing (4), issued is processed (9).
REQUEST_STATUS_CODES: dict[RequestStatus, RequestStatusCode] = {
    "received": 2,
    "verifying": 4,
    "issued": 9,
    "rejected": 3,
}
Purpose = Literal[
    "employment", "study", "residence_abroad", "business", "adoption", "personal", "other"
]

REQUEST_ID_PATTERN = r"^LT\d{13}$"
REQUEST_ID_DESCRIPTION = (
    "Request id (mã yêu cầu): LT (lý lịch tư pháp), the province code (3) and 10 digits."
)
DossierCode = Annotated[str, dossier_code_field("a request", example="000.00.38.H56-241230-0101")]
ReceivingProvince = Annotated[
    str,
    province_code_field("Province whose one-stop desk received the dossier: its code (mã tỉnh)."),
]


class _OmitNone(WireModel):
    """Optional fields are omitted when unset, never sent as null (the schema has no null);
    a JSON null for one is refused (422), not read as omitted."""

    @model_serializer(mode="wrap")
    def _omit_none(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        return {k: v for k, v in handler(self).items() if v is not None}


class Applicant(_OmitNone):
    """Who the certificate is about (người được cấp Phiếu): a population citizen.

    Only ``personal_id`` is required; the rest of the certificate is filled from the
    population record. ``full_name`` and ``date_of_birth``, if given, must equal it (422
    ``citizen_mismatch``).
    """

    personal_id: PersonalId
    # None is accepted from Python callers but not published: the schema says "omit it".
    full_name: FullName | SkipJsonSchema[None] = None
    date_of_birth: WireDate | SkipJsonSchema[None] = Field(
        default=None, description="Date of birth (ngày, tháng, năm sinh)."
    )

    _omitted_not_null = field_validator("full_name", "date_of_birth", mode="before")(
        refuse_null("the field")
    )


class PostDelivery(WireModel):
    """By post (qua bưu chính): to the applicant's postal address."""

    method: Literal["post"]
    address: Annotated[str, Field(min_length=1, max_length=300)] = Field(
        description="Postal address (địa chỉ nhận)."
    )


class CollectedDelivery(WireModel):
    """In person (nhận trực tiếp) or electronic (bản điện tử, e.g. on VNeID): no address."""

    method: Literal["in_person", "electronic"]


# The contract states the rule itself (oneOf on `method`): an address for post, none otherwise.
Delivery = Annotated[
    PostDelivery | CollectedDelivery,
    Field(
        discriminator="method",
        description="How the certificate reaches the applicant (hình thức nhận Phiếu): post "
        "(qua bưu chính) with its address, in_person (nhận trực tiếp) or electronic (bản điện "
        "tử) without one.",
    ),
]


class CertificateRequest(WireModel):
    """A request for a criminal-record certificate (tờ khai yêu cầu cấp Phiếu LLTP)."""

    dossier_code: DossierCode
    province_code: ReceivingProvince
    certificate_type: CertificateType = Field(
        description="so_1 (Phiếu số 1: convictions not expunged) or so_2 (Phiếu số 2: every "
        "conviction, expunged or not)."
    )
    purpose: Purpose = Field(description="Purpose (mục đích sử dụng Phiếu).")
    applicant: Applicant
    delivery: Delivery
    copies: int = Field(default=1, ge=1, le=10, description="Copies (số lượng Phiếu), 1–10.")


class Conviction(WireModel):
    """One conviction (một bản án) as the certificate states it."""

    court: str = Field(description="Sentencing court (Tòa án xét xử).")
    judgment_number: str = Field(description="Judgment number (số bản án), number/year/HS-ST.")
    judgment_date: date = Field(description="Date of the judgment (ngày tuyên án).")
    offence: str = Field(description="Offence and article of the 2015 Penal Code (tội danh).")
    sentence: str = Field(description="Principal penalty (hình phạt chính).")
    expunged: bool = Field(description="Expunged (đã được xóa án tích); only on a số 2.")


class Certificate(WireModel):
    """The issued certificate (Phiếu lý lịch tư pháp)."""

    certificate_number: str = Field(
        description="Certificate number (số Phiếu), number/year/LLTP.", examples=["1234/2024/LLTP"]
    )
    certificate_type: CertificateType
    issued_on: date = Field(description="Issue date (ngày cấp).")
    personal_id: PersonalId
    full_name: FullName
    date_of_birth: date
    gender: Gender
    birthplace: str = Field(description="Province of birth registration (nơi sinh).")
    has_criminal_record: bool = Field(
        description="False: 'Không có án tích' (no conviction still on record; a số 2 may "
        "list expunged ones); true: at least one listed conviction is not expunged."
    )
    convictions: list[Conviction] = Field(
        description="Oldest first; số 1 lists only convictions not expunged."
    )


class RequestTransition(WireModel):
    """One step of a request's lifecycle."""

    status: RequestStatus
    status_code: RequestStatusCode = Field(description="DVCQG status code (mã trạng thái).")
    at: Timestamp
    note: str | None = Field(description="What is being verified, or why it was rejected.")


class CertificateRequestStatus(WireModel):
    """A request and where it is in its lifecycle (hồ sơ yêu cầu cấp Phiếu và trạng thái)."""

    request_id: str = Field(pattern=REQUEST_ID_PATTERN, description=REQUEST_ID_DESCRIPTION)
    province_code: ProvinceCode
    dossier_code: DossierCode
    certificate_type: CertificateType
    status: RequestStatus = Field(description="Current status (trạng thái).")
    status_code: RequestStatusCode = Field(description="DVCQG status code (mã trạng thái).")
    received_at: Timestamp = Field(description="When it was received (ngày tiếp nhận).")
    due_at: Timestamp = Field(description="Legal deadline (hạn trả kết quả): 10 working days.")
    status_changed_at: Timestamp = Field(description="When the current status began.")
    issued_at: Timestamp | None = Field(description="Issued (9) at; else null.")
    certificate_ready: bool = Field(
        description="True once issued: fetch it at /v1/certificate-requests/{request_id}/"
        "certificate."
    )
    history: list[RequestTransition] = Field(description="Every transition so far, oldest first.")
