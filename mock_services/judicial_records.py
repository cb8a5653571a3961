"""Mock judicial records — *lý lịch tư pháp*: criminal-record certificate requests, status and
the certificate.

Requests are idempotent on the province's dossier code and name a population citizen by
personal id; they are stored in SQLite by the civil registry's store (same columns: the kind is
the certificate type) and their lifecycle and certificate derived by
:mod:`mock_services.judicial_records_data`. The clock is injectable
(``create_app(settings, clock=...)``) and the lifecycle runs at ``mocks.lifecycle_minute_s``.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, FastAPI, Path, Request, Response

from contracts.civil_registry import CitizenRef
from contracts.common import problem_responses
from contracts.judicial_records import (
    REQUEST_ID_DESCRIPTION,
    REQUEST_ID_PATTERN,
    Applicant,
    Certificate,
    CertificateRequest,
    CertificateRequestStatus,
    PostDelivery,
)
from contracts.provinces import PROVINCE_CODES, province_by_code
from mock_services import submissions
from mock_services.civil_registry import check_citizen
from mock_services.civil_registry_store import StoredRegistration
from mock_services.judicial_records_data import (
    VIETNAM_TZ,
    certificate,
    request_id,
    request_view,
    seq_of,
    settled_us,
    steps_of,
    to_us,
)
from mock_services.openapi import Example
from mock_services.people import (
    UnknownCitizen,
    keyed_random,
    person,
    random_citizen_id,
    street_address,
)
from mock_services.service import OperationRoute, ProblemError, ServiceInfo, not_found
from ndxp_config.settings import Settings

PROVIDER = "judicial-records"


def _mismatch(detail: str) -> ProblemError:
    return ProblemError(422, "citizen_mismatch", "Citizen mismatch", f"applicant: {detail}")


def check_applicant(seed: int, applicant: Applicant) -> None:
    """422 ``citizen_mismatch`` unless a citizen has this id (and any name or date sent)."""
    try:
        citizen = person(seed, applicant.personal_id)
    except UnknownCitizen:
        raise _mismatch(f"no citizen has personal id {applicant.personal_id}.") from None
    if applicant.full_name is not None or applicant.date_of_birth is not None:
        ref = CitizenRef(
            personal_id=applicant.personal_id,
            full_name=applicant.full_name or citizen.full_name,
            date_of_birth=applicant.date_of_birth or citizen.date_of_birth,
        )
        check_citizen(seed, "applicant", ref)


class JudicialRecords(submissions.DossierDesk):
    """What the handlers share: the seed, the store, the clock and the lifecycle time scale."""

    def request(self, body: CertificateRequest) -> tuple[CertificateRequestStatus, bool]:
        """Idempotent on ``(province_code, dossier_code)``: the request and if it is new."""
        submissions.check_province(body.province_code)
        check_applicant(self.seed, body.applicant)
        now_us = to_us(self.clock())
        row, created = submissions.submit_once(
            self.store,
            body,
            kind=body.certificate_type,
            submitted_us=now_us,
            minute_s=self.minute_s,
            settled_us=lambda row: settled_us(self.seed, row),
            sent="sent",
        )
        return request_view(self.seed, row, now_us), created

    def find(self, rid: str) -> StoredRegistration:
        seq = seq_of(self.seed, rid)
        if seq == 0 and rid[2:5] in PROVINCE_CODES:
            return sandbox_row(self.seed, rid[2:5])
        row = self.store.get(seq)
        if row is None or row.province_code != rid[2:5]:
            raise not_found(f"No certificate request has id {rid}.")
        return row


# --- HTTP ----------------------------------------------------------------------------------

RequestIdPath = Annotated[str, Path(pattern=REQUEST_ID_PATTERN, description=REQUEST_ID_DESCRIPTION)]
router = APIRouter(prefix="/v1", route_class=OperationRoute, tags=["judicial-records"])


_REQUEST_RESPONSES = submissions.submission_responses(
    CertificateRequestStatus,
    "the request",
    sent="sent",
    invalid="invalid_request; or citizen_mismatch: no population citizen has this personal id, "
    "or the full name or date of birth sent differs from the population record",
)
_CERTIFICATE_RESPONSES = problem_responses(404, 409, 422)
_CERTIFICATE_RESPONSES[409]["description"] = (
    "certificate_not_ready: the request is still received or verifying (poll its status); "
    "request_rejected: the request was rejected, no certificate will be issued"
)


@submissions.post_submission(
    router, PROVIDER, "/certificate-requests", "request_certificate", _REQUEST_RESPONSES
)
def request_certificate(
    request: Request, response: Response, body: CertificateRequest
) -> CertificateRequestStatus:
    """Request a criminal-record certificate; 201 when created, 200 with the same request on a
    repeat (same dossier code, same body), 409 ``dossier_code_conflict`` for another body."""
    return submissions.answered(response, JudicialRecords.of(request).request(body))


@router.get(
    "/certificate-requests/{request_id}",
    **submissions.operation_args(PROVIDER, "get_certificate_request"),
    responses=problem_responses(404, 422),
)
def get_certificate_request(
    request: Request, request_id: RequestIdPath
) -> CertificateRequestStatus:
    """The request's status and history so far; ``certificate_ready`` once issued."""
    records = JudicialRecords.of(request)
    return request_view(records.seed, records.find(request_id), to_us(records.clock()))


@router.get(
    "/certificate-requests/{request_id}/certificate",
    **submissions.operation_args(PROVIDER, "get_certificate"),
    responses=_CERTIFICATE_RESPONSES,
)
def get_certificate(request: Request, request_id: RequestIdPath) -> Certificate:
    """The issued certificate (Phiếu lý lịch tư pháp): no criminal record, or the convictions."""
    records = JudicialRecords.of(request)
    row = records.find(request_id)
    status = request_view(records.seed, row, to_us(records.clock()))
    if status.status == "rejected":
        note = status.history[-1].note
        raise ProblemError(
            409, "request_rejected", "Request rejected", f"{request_id} was rejected: {note}."
        )
    if status.issued_at is None:
        raise ProblemError(
            409,
            "certificate_not_ready",
            "Certificate not ready",
            f"{request_id} is {status.status} (due {status.due_at.isoformat()}); poll "
            f"GET /v1/certificate-requests/{request_id} until certificate_ready.",
        )
    return certificate(records.seed, row, to_us(status.issued_at))


# --- published examples and samples ----------------------------------------------------------

EXAMPLE_RECEIVED = datetime(2024, 12, 30, 8, 0, tzinfo=VIETNAM_TZ)
_EXAMPLE_MINUTE_S = 60.0


def nth_request_id(seed: int, province_code: str, seq: int = 1) -> str:
    """The id of a store's ``seq``-th row if it came from this province (0: the sandbox)."""
    return request_id(seed, StoredRegistration(seq, "so_1", province_code, "", "", 0, 1.0))


def example_request(
    seed: int, province_code: str = "038", number: int = 101, *, seq: int = 1
) -> CertificateRequest:
    """A Phiếu số 1 for a job, for a real adult citizen of the province, sent by post; as the
    ``seq``-th request (default: a fresh store's first) it is issued, never rejected."""
    rng = keyed_random(seed, "judicial-records-example", province_code)
    rid = nth_request_id(seed, province_code, seq)
    while True:  # one whose request is issued, so the documented certificate exists
        pid = random_citizen_id(rng, province_code=province_code, born_between=(1985, 2000))
        if steps_of(seed, rid, pid)[-1].status == "issued":
            break
    applicant = person(seed, pid)
    province = province_by_code(province_code)
    home = street_address(seed, "judicial-records-example", province_code)
    prefix = f"000.00.{province_code[1:]}.H{int(province_code) % 100:02d}-241230"
    return CertificateRequest(
        dossier_code=f"{prefix}-{number:04d}",
        province_code=province_code,
        certificate_type="so_1",
        purpose="employment",
        applicant=Applicant(personal_id=applicant.personal_id),
        delivery=PostDelivery(method="post", address=f"{home}, {province.full_name}"),
    )


SANDBOX_RECEIVED = datetime(2024, 1, 2, 8, 0, tzinfo=VIETNAM_TZ)


def sandbox_row(seed: int, province_code: str) -> StoredRegistration:
    """The province's sandbox request (row 0, never stored): received on 2 January 2024 and
    issued days later, so a connection test fetches a certificate at once. Its id is
    :func:`nth_request_id` with ``seq=0``; no stored request ever has it."""
    body = example_request(seed, province_code, number=9000, seq=0)
    return StoredRegistration(
        0,
        body.certificate_type,
        province_code,
        body.dossier_code,
        body.model_dump_json(),
        to_us(SANDBOX_RECEIVED),
        _EXAMPLE_MINUTE_S,
    )


def examples(seed: int) -> Mapping[str, Example]:
    """A fresh store's first request, as answered then and once issued."""
    body = example_request(seed)
    row = StoredRegistration(
        1,
        body.certificate_type,
        body.province_code,
        body.dossier_code,
        body.model_dump_json(),
        to_us(EXAMPLE_RECEIVED),
        _EXAMPLE_MINUTE_S,
    )
    later = to_us(EXAMPLE_RECEIVED + timedelta(days=30))
    issued = request_view(seed, row, later)
    rid = request_id(seed, row)
    assert issued.issued_at is not None, "the example applicant's request must be issued"
    return {
        "request_certificate": Example(
            "a Phiếu số 1 for a job in Thanh Hóa, the first request to a fresh registry; "
            "request ids follow arrival order, so read yours from the answer",
            body=body,
            response=request_view(seed, row, row.submitted_us),
        ),
        "get_certificate_request": Example(
            "the request, once issued", {"request_id": rid}, response=issued
        ),
        "get_certificate": Example(
            "the certificate",
            {"request_id": rid},
            response=certificate(seed, row, to_us(issued.issued_at)),
        ),
    }


INFO = ServiceInfo(
    provider=PROVIDER,
    title="Judicial records — lý lịch tư pháp (mock)",
    description=(
        "Mock of the judicial-records database (Cơ sở dữ liệu lý lịch tư pháp, Trung tâm Lý "
        "lịch tư pháp quốc gia, Ministry of Justice). Provinces forward requests for a "
        "criminal-record certificate (Phiếu lý lịch tư pháp số 1 or số 2), idempotently on "
        "their dossier code, then read the status (received 2 → verifying 4 → issued 9, or "
        "rejected 3; the lifecycle advances with time, deterministically per request) and the "
        "issued certificate. Applicants are population citizens named by personal id; about 3 % "
        "have convictions, which always need a verification with the court."
    ),
)


def create_app(settings: Settings, *, clock: submissions.Clock | None = None) -> FastAPI:
    """The judicial-records mock; requests in ``<state_dir>/judicial-records-<seed>.db``."""
    records = JudicialRecords.open(settings, PROVIDER, clock)
    return records.app(INFO, router, settings, examples)


__all__ = [
    "JudicialRecords",
    "check_applicant",
    "create_app",
    "example_request",
    "nth_request_id",
    "sandbox_row",
]
