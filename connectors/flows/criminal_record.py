"""Criminal-record certificate for a job application (*cấp Phiếu lý lịch tư pháp số 1*): the
one-stop system reads the applicant from the population database, forwards the request to the
judicial-records database and follows it until the certificate can be fetched.

Hops: ``population.get_citizen`` (the form filled from the personal id, as Hải Phòng asks,
row 70) → ``judicial-records.request_certificate`` (idempotent on the dossier code, also the
SDK's idempotency key) → ``judicial-records.get_certificate_request`` polled with a bounded
budget → ``judicial-records.get_certificate`` once issued. A certificate about someone else
than the applicant the population names is degraded, not completed: it is the wrong value
the province would hand out.
"""

from __future__ import annotations

from typing import Any

from connectors.flows.common import (
    FlowContext,
    StatusPacing,
    draw_citizen,
    field_of,
    flow,
    follow_status,
    lookup_citizen,
    rejection_reason,
)
from connectors.flows.recording import FlowRun
from contracts.judicial_records import (
    Applicant,
    CertificateRequest,
    CollectedDelivery,
    PostDelivery,
)
from mock_services.dossiers import VIETNAM_TZ

# Until issued or rejected, poll every 1/48 of the legal deadline (due_at - received_at: 10
# working days), give up at 1.5 deadlines (a court check may run past the deadline) and leave
# it to the next sync.
PACING = StatusPacing(frozenset({"issued", "rejected"}), 48, 1.5)


async def _body(ctx: FlowContext) -> None:
    ndxp, system, rng, options, run = ctx
    personal_id = draw_citizen(rng, system, born=(1965, 2004))
    citizen = await lookup_citizen(ndxp, run, personal_id, "fill the form from personal id")
    today = options.clock().astimezone(VIETNAM_TZ).date()
    dossier_code = f"{system.province.code}.LLTP-{today:%y%m%d}-{rng.getrandbits(40):010x}"
    address = field_of(citizen, "current_address") or f"UBND {system.province.full_name}"
    request = CertificateRequest(
        dossier_code=dossier_code,
        province_code=system.province.code,
        certificate_type="so_1",
        purpose="employment",
        applicant=Applicant(personal_id=personal_id),
        delivery=PostDelivery(method="post", address=str(address)[:300])
        if rng.random() < 0.5
        else CollectedDelivery(method="electronic"),
    )
    status = await run.call(
        "judicial-records.request_certificate",
        f"request a Phiếu số 1, dossier {dossier_code}",
        lambda: ndxp.judicial_records.request_certificate(request, idempotency_key=dossier_code),
    )
    rid = field_of(status, "request_id")
    followed = await follow_status(
        status,
        rid,
        PACING,
        options,
        run,
        (
            "judicial-records.get_certificate_request",
            f"follow {rid}",
            lambda: ndxp.judicial_records.get_certificate_request(rid),
        ),
    )
    status = followed.status
    rid, state = field_of(status, "request_id"), field_of(status, "status")  # as last answered
    if state == "rejected":
        run.summary = f"{rid} rejected (3) by the records centre: {rejection_reason(status)}"
        return
    if state != "issued":
        run.summary = f"{rid} still {state} after the polling budget; left to the next sync"
        return
    certificate = await run.call(
        "judicial-records.get_certificate",
        f"fetch the certificate of {rid}",
        lambda: ndxp.judicial_records.get_certificate(rid),
    )
    _check_holder(certificate, citizen, rid, run)


def _check_holder(certificate: Any, citizen: Any, rid: str, run: FlowRun) -> None:
    wrong = [
        name
        for name in ("personal_id", "full_name", "date_of_birth")
        if str(field_of(certificate, name)) != str(field_of(citizen, name))
    ]
    if wrong:
        run.degrade(f"{rid}: the certificate's {', '.join(wrong)} differ from the population's")
        return
    convictions = field_of(certificate, "convictions") or []
    verdict = (
        f"{len(convictions)} conviction(s) listed"
        if field_of(certificate, "has_criminal_record")
        else "no criminal record (không có án tích)"
    )
    run.summary = (
        f"{rid} issued, certificate {field_of(certificate, 'certificate_number')}: {verdict}"
    )


criminal_record_certificate = flow(
    "criminal_record_certificate",
    _body,
    "Fill the form from the population, request a criminal-record certificate and fetch it.",
)
