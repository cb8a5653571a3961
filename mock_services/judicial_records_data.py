"""What the judicial-records mock knows and derives: convictions per citizen, and the lifecycle
of a certificate request — all pure functions of the seed, so every run answers the same bytes.

**Convictions** (*án tích*) are keyed on the personal id: about 3 % of citizens who were adults
after 1 January 2018 (when the 2015 Penal Code, whose articles they cite, took effect) have one
or two, judged by the court of their province. Whether one is expunged (*đã được xóa án tích*)
depends on the day the certificate is issued: the sentence served plus the waiting time of
Art. 70 of the Penal Code (1, 2 or 3 years here).

**Lifecycle**, in simulated minutes after receipt, each ``mocks.lifecycle_minute_s`` wall
seconds; due 4,800 minutes (10 working days of 8 hours, Law on Judicial Records Art. 48) after
receipt. The centre's database is not linked to the courts (Hải Phòng, row 69: "manual
lookup"), so an applicant with a conviction always waits for a verification with the court:

- ~80 % of the others: received (2) → verifying (4) → issued (9) within 1–5 working days
- everyone with a conviction, and ~10 % of the others: verifying with the court, issued after
  5–12 working days (past the deadline for some)
- ~10 % of the others: … verifying → rejected (3), terminal
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from contracts.judicial_records import (
    REQUEST_STATUS_CODES,
    Certificate,
    CertificateRequest,
    CertificateRequestStatus,
    CertificateType,
    Conviction,
    RequestStatus,
    RequestTransition,
)
from mock_services.civil_registry_lifecycle import VIETNAM_TZ, from_us, to_us
from mock_services.civil_registry_store import StoredRegistration
from mock_services.people import Person, keyed_int, keyed_random, permute, person, unpermute

__all__ = [
    "CONVICTED_SHARE",
    "DUE_MINUTES",
    "VIETNAM_TZ",
    "certificate",
    "convictions_of",
    "request_id",
    "request_view",
    "seq_of",
    "settled_us",
    "steps_of",
    "to_us",
]

CONVICTED_SHARE = 0.03
DUE_MINUTES = 10 * 480
PENAL_CODE_2015 = date(2018, 1, 1)
_ID_MODULUS = 10**10

_OFFENCES = (
    "Trộm cắp tài sản (Điều 173 Bộ luật Hình sự 2015)",
    "Lừa đảo chiếm đoạt tài sản (Điều 174 Bộ luật Hình sự 2015)",
    "Cố ý gây thương tích (Điều 134 Bộ luật Hình sự 2015)",
    "Đánh bạc (Điều 321 Bộ luật Hình sự 2015)",
    "Tàng trữ trái phép chất ma túy (Điều 249 Bộ luật Hình sự 2015)",
    "Vi phạm quy định về tham gia giao thông đường bộ (Điều 260 Bộ luật Hình sự 2015)",
)
# (principal penalty, months to serve, years to wait before expungement: Art. 70)
_SENTENCES: tuple[tuple[str, int, int], ...] = (
    ("Phạt tiền 20.000.000 đồng", 0, 1),
    ("Cải tạo không giam giữ 01 năm", 12, 1),
    ("12 tháng tù cho hưởng án treo, thời gian thử thách 24 tháng", 24, 1),
    ("02 năm tù", 24, 2),
    ("03 năm 06 tháng tù", 42, 2),
    ("07 năm tù", 84, 3),
)
_REJECT_NOTES = (
    "Thông tin trong tờ khai không khớp với giấy tờ tùy thân",
    "Thiếu văn bản ủy quyền của người được cấp Phiếu",
    "Người yêu cầu không thuộc đối tượng được cấp Phiếu số 2",
)
_VERIFY_NOTE = "Đối chiếu cơ sở dữ liệu lý lịch tư pháp"
_COURT_NOTE = "Xác minh bản án với Tòa án nhân dân (tra cứu thủ công)"


@dataclass(frozen=True, slots=True)
class _Judgment:
    court: str
    number: str
    day: date
    offence: str
    sentence: str
    served_months: int
    wait_years: int

    def expunged_on(self, day: date) -> bool:
        served = self.day + timedelta(days=round(self.served_months * 30.44))
        return day >= served + timedelta(days=round(self.wait_years * 365.25))


def _judgments(seed: int, citizen: Person) -> list[_Judgment]:
    rng = keyed_random(seed, "convictions", citizen.personal_id)
    if rng.random() >= CONVICTED_SHARE:
        return []
    first = max(PENAL_CODE_2015, date(citizen.date_of_birth.year + 19, 1, 1))  # an adult
    span = (date(2024, 12, 31) - first).days
    if span <= 0:
        return []
    days = sorted(rng.sample(range(span), 2 if rng.random() < 0.2 else 1))
    judgments = []
    for day in (first + timedelta(days=d) for d in days):
        sentence, months, wait = rng.choice(_SENTENCES)
        judgments.append(
            _Judgment(
                court=f"Tòa án nhân dân {citizen.province.full_name}",
                number=f"{rng.randint(1, 450)}/{day.year}/HS-ST",
                day=day,
                offence=rng.choice(_OFFENCES),
                sentence=sentence,
                served_months=months,
                wait_years=wait,
            )
        )
    return judgments


def convictions_of(
    seed: int, personal_id: str, certificate_type: CertificateType, on: date
) -> list[Conviction]:
    """What a certificate of this type issued ``on`` lists (số 1: only those not expunged)."""
    listed = []
    for j in _judgments(seed, person(seed, personal_id)):
        expunged = j.expunged_on(on)
        if certificate_type == "so_1" and expunged:
            continue
        listed.append(
            Conviction(
                court=j.court,
                judgment_number=j.number,
                judgment_date=j.day,
                offence=j.offence,
                sentence=j.sentence,
                expunged=expunged,
            )
        )
    return listed


# --- ids and lifecycle ---------------------------------------------------------------------


def request_id(seed: int, row: StoredRegistration) -> str:
    """``LT`` + province + a keyed bijection of the row's insertion number."""
    return f"LT{row.province_code}{permute(seed, 'lltp-request', row.seq, _ID_MODULUS):010d}"


def seq_of(seed: int, rid: str) -> int:
    return unpermute(seed, "lltp-request", int(rid[5:]), _ID_MODULUS)


@dataclass(frozen=True, slots=True)
class Step:
    status: RequestStatus
    minute: int
    note: str | None = None


def steps_of(seed: int, rid: str, personal_id: str) -> tuple[Step, ...]:
    """The request's whole lifecycle in simulated minutes (pure: seed, id and applicant)."""
    rng = keyed_random(seed, "lltp-lifecycle", rid, personal_id)
    roll = rng.random()
    t = rng.randint(10, 120)
    if _judgments(seed, person(seed, personal_id)) or 0.8 <= roll < 0.9:
        verifying = Step("verifying", t, _COURT_NOTE)
        return Step("received", 0), verifying, Step("issued", t + rng.randint(2400, 5760))
    verifying = Step("verifying", t, _VERIFY_NOTE)
    if roll >= 0.9:
        rejected = Step("rejected", t + rng.randint(60, 960), rng.choice(_REJECT_NOTES))
        return Step("received", 0), verifying, rejected
    return Step("received", 0), verifying, Step("issued", t + rng.randint(480, 2400))


def _timeline(seed: int, row: StoredRegistration) -> list[tuple[Step, int]]:
    body = CertificateRequest.model_validate_json(row.body)
    steps = steps_of(seed, request_id(seed, row), body.applicant.personal_id)
    minute_us = row.minute_s * 1_000_000
    return [(s, row.submitted_us + round(s.minute * minute_us)) for s in steps]


def settled_us(seed: int, row: StoredRegistration) -> int:
    """When the request's last transition happens."""
    return _timeline(seed, row)[-1][1]


def request_view(seed: int, row: StoredRegistration, now_us: int) -> CertificateRequestStatus:
    """The request as seen at ``now_us``: only transitions that have already happened."""
    horizon = max(now_us, row.submitted_us)
    history = [(s, at) for s, at in _timeline(seed, row) if at <= horizon]
    current, current_at = history[-1]
    return CertificateRequestStatus(
        request_id=request_id(seed, row),
        province_code=row.province_code,
        dossier_code=row.dossier_code,
        certificate_type=CertificateRequest.model_validate_json(row.body).certificate_type,
        status=current.status,
        status_code=REQUEST_STATUS_CODES[current.status],
        received_at=from_us(row.submitted_us),
        due_at=from_us(row.submitted_us + round(DUE_MINUTES * row.minute_s * 1_000_000)),
        status_changed_at=from_us(current_at),
        issued_at=from_us(current_at) if current.status == "issued" else None,
        certificate_ready=current.status == "issued",
        history=[
            RequestTransition(
                status=s.status,
                status_code=REQUEST_STATUS_CODES[s.status],
                at=from_us(at),
                note=s.note,
            )
            for s, at in history
        ],
    )


def certificate(seed: int, row: StoredRegistration, issued_us: int) -> Certificate:
    """The certificate of an issued request, filled from the population record."""
    body = CertificateRequest.model_validate_json(row.body)
    citizen = person(seed, body.applicant.personal_id)
    issued_on = from_us(issued_us).date()
    listed = convictions_of(seed, citizen.personal_id, body.certificate_type, issued_on)
    number = keyed_int(seed, "lltp-certificate", request_id(seed, row)) % 99_999 + 1
    return Certificate(
        certificate_number=f"{number}/{issued_on.year}/LLTP",
        certificate_type=body.certificate_type,
        issued_on=issued_on,
        personal_id=citizen.personal_id,
        full_name=citizen.full_name,
        date_of_birth=citizen.date_of_birth,
        gender=citizen.gender,
        birthplace=citizen.province.full_name,
        has_criminal_record=any(not c.expunged for c in listed),
        convictions=listed,
    )
