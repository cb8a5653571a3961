"""Linked birth registration (*liên thông đăng ký khai sinh*): the one-stop system verifies the
parents in the population database, submits the dossier to the civil registry, and syncs its
status until it is processed (9) or returned (10) — or rejected (3).

Hops: ``population.get_citizen`` (father, mother) → ``civil-registry.submit_birth_registration``
(idempotent on the dossier code, which is also the SDK's idempotency key, so a retried POST
never registers twice) → ``civil-registry.get_registration`` polled with a bounded budget.
Degraded as the reports describe (FM-06): a status stuck at "received", a dossier past its
due date that still says "processing" (paused, rejected and overdue hidden), terminal states
without their dates.
"""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING, Any

from connectors.flows.common import (
    FlowContext,
    FlowOptions,
    StatusPacing,
    draw_citizen,
    field_of,
    flow,
    follow_status,
    lookup_citizen,
    rejection_reason,
)
from connectors.flows.recording import FlowRun
from contracts.civil_registry import BirthRegistrationRequest, CitizenRef, Newborn
from contracts.common import Gender
from mock_services.dossiers import VIETNAM_TZ

if TYPE_CHECKING:
    from connectors.client import NdxpClient

_MIDDLE = {"male": ("Văn", "Minh", "Đức", "Gia", "Quang"), "female": ("Thị", "Ngọc", "Thu", "Minh")}
_GIVEN = {
    "male": ("An", "Bảo", "Dũng", "Hùng", "Khang", "Long", "Nam", "Phúc", "Quân", "Tuấn"),
    "female": ("Anh", "Chi", "Hà", "Hoa", "Lan", "Linh", "Mai", "Ngân", "Thảo", "Vy"),
}
# Until a final status, 48 polls per processing time (due_at - received_at): ten minutes of a
# working day. Give up at 2.5 times the processing time (an overdue dossier still settles by
# then), and call a dossier stuck when it is still "received" after an eighth of it (an hour
# of the working day).
PACING = StatusPacing(frozenset({"processed", "returned", "rejected"}), 48, 2.5)
ACCEPT_SPANS = 1 / 8


def _parent_ref(citizen: Any) -> CitizenRef:
    return CitizenRef(
        personal_id=citizen.personal_id,
        full_name=citizen.full_name,
        date_of_birth=citizen.date_of_birth,
    )


async def _body(ctx: FlowContext) -> None:
    ndxp, system, rng, options, run = ctx
    father_id = draw_citizen(rng, system, gender="male", born=(1975, 2000))
    mother_id = draw_citizen(rng, system, gender="female", born=(1980, 2002))
    father = await lookup_citizen(ndxp, run, father_id, "verify the father")
    mother = await lookup_citizen(ndxp, run, mother_id, "verify the mother")
    today = options.clock().astimezone(VIETNAM_TZ).date()
    gender: Gender = rng.choice(("male", "female"))
    family = str(field_of(father, "full_name") or "Nguyễn").split()[0]
    child = Newborn(
        full_name=f"{family} {rng.choice(_MIDDLE[gender])} {rng.choice(_GIVEN[gender])}",
        date_of_birth=today - timedelta(days=rng.randint(1, 20)),
        gender=gender,
        place_of_birth=f"Bệnh viện Đa khoa {system.province.full_name}",
    )
    dossier_code = f"{system.province.code}.KS-{today:%y%m%d}-{rng.getrandbits(40):010x}"
    request = BirthRegistrationRequest(
        dossier_code=dossier_code,
        province_code=system.province.code,
        child=child,
        father=_parent_ref(father),
        mother=_parent_ref(mother),
    )
    registration = await run.call(
        "civil-registry.submit_birth_registration",
        f"submit birth dossier {dossier_code}",
        lambda: ndxp.civil_registry.submit_birth_registration(
            request, idempotency_key=dossier_code
        ),
    )
    await _sync_status(ndxp, registration, options, run)


async def _sync_status(
    ndxp: NdxpClient, registration: Any, options: FlowOptions, run: FlowRun
) -> None:
    registration_id = registration.registration_id
    current, received_at, due_at, span, polls = await follow_status(
        registration,
        registration_id,
        PACING,
        options,
        run,
        (
            "civil-registry.get_registration",
            f"sync the status of {registration_id}",
            lambda: ndxp.civil_registry.get_registration(registration_id),
        ),
    )
    status, code = field_of(current, "status"), field_of(current, "status_code")
    if status == "rejected":
        reason = rejection_reason(current)
        run.summary = f"{registration_id} rejected (3) by the registrar: {reason}"
        return
    if status in ("processed", "returned"):
        missing = [
            name
            for name, needed in (("processed_at", True), ("returned_at", status == "returned"))
            if needed and field_of(current, name) is None
        ]
        if missing:
            run.degrade(f"{registration_id} {status} ({code}) without {', '.join(missing)}")
        result = field_of(current, "result")
        run.summary = (
            f"{registration_id} {status} ({code}), certificate "
            f"{field_of(result, 'certificate_number')}"
        )
        return
    now = options.clock()
    if status == "received" and (now - received_at).total_seconds() > ACCEPT_SPANS * span:
        run.degrade(f"{registration_id} stuck at received (2): never taken up, or not synced")
    elif now > due_at and status != "overdue":
        run.degrade(f"{registration_id} past its due date and still {status} ({code}): not synced")
    else:
        run.summary = (
            f"{registration_id} still {status} ({code}) after {polls} polls; not overdue, "
            "left to the next status sync"
        )


birth_registration = flow(
    "birth_registration",
    _body,
    "Verify the parents, submit a birth registration and sync it to a final status.",
)
