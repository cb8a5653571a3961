"""Status histories (*lịch sử xử lý*) of the dossiers a national database finished processing:
driver-licence renewals and business-registration dossiers.

The reports name the statuses provinces never receive — paused, rejected, overdue (*tạm dừng,
từ chối, quá hạn*, 003 Phụ lục V rows 12–13, Yên Bái) — for exactly these two systems, so their
dossiers carry the whole lifecycle, in the DVCQG codes of
:data:`contracts.common.STATUS_CODES`:

- received (2) when the dossier arrived, processing (4) soon after;
- about one dossier in seven pauses (5) for a supplement and resumes processing (4);
- a dossier that ended after its deadline went overdue (4) at the deadline;
- then rejected (3) at its end, or processed (9) at its end and, when the result was handed
  over, returned (10).

Derived from the seed and the dossier id alone (its own generator, so adding the history
changed no other field of a dossier); times never go backwards.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from contracts.common import STATUS_CODES, LifecycleStatus, StatusTransition
from mock_services.people import keyed_random

PAUSE_SHARE = 0.15
Final = Literal["processed", "returned", "rejected"]


def status_history(
    seed: int,
    dossier_id: str,
    *,
    received_at: datetime,
    end_at: datetime,
    due_at: datetime,
    final: Final,
    returned_at: datetime | None,
    pause_notes: tuple[str, ...],
    rejection_note: str,
) -> list[StatusTransition]:
    """Every transition of one finished dossier, oldest first (see the module docstring)."""
    rng = keyed_random(seed, "dossier-history", dossier_id)
    span = end_at - received_at
    processing_at = received_at + span * 0.05
    steps: list[tuple[LifecycleStatus, datetime, str | None]] = [
        ("received", received_at, None),
        ("processing", processing_at, None),
    ]
    overdue = processing_at < due_at < end_at
    if rng.random() < PAUSE_SHARE and span.total_seconds() > 0:
        paused_at, resumed_at = received_at + span * 0.3, received_at + span * 0.6
        if not (overdue and paused_at <= due_at < resumed_at):  # overdue is never paused
            steps.append(("paused", paused_at, rng.choice(pause_notes)))
            steps.append(("processing", resumed_at, None))
    if overdue:
        steps.append(("overdue", due_at, None))
    steps.sort(key=lambda step: step[1])
    if final == "rejected":
        steps.append(("rejected", end_at, rejection_note))
    else:
        steps.append(("processed", end_at, None))
        if final == "returned":
            steps.append(("returned", max(returned_at or end_at, end_at), None))
    return [
        StatusTransition(status=status, status_code=STATUS_CODES[status], at=at, note=note)
        for status, at, note in steps
    ]


__all__ = ["PAUSE_SHARE", "status_history"]
