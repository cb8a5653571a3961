"""The lifecycle of a civil registration (*quá trình xử lý hồ sơ hộ tịch*): what a stored row
is at any time — its id, status, history and status changes — derived without storing any of it.

Everything is derived from a row (:mod:`mock_services.civil_registry_store`) and the seed.
The registration id is a keyed bijection of the row's insertion number; the lifecycle is a pure
function of ``(seed, registration id)`` placed in time from the submission instant, so the
status at time ``t`` never depends on when or how often anyone asked. Simulated minutes after
submission, each scaled by ``mocks.lifecycle_minute_s`` wall seconds; due 480 minutes (one
working day) after receipt, as the Law on Civil Status 2014 has births and deaths settled
within the day:

- ~62 %: received (2) → processing (4) → processed (9) → returned (10)
- ~14 %: … processing → paused (5) → processing → processed → returned (a pause always ends
  before the deadline)
- ~12 %: … processing → overdue (4, at ``due_at``) → processed → returned
- ~12 %: … processing → rejected (3), terminal
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Literal

from contracts.civil_registry import (
    CURSOR_PATTERN,
    BirthRegistrationRequest,
    Registration,
    RegistrationKind,
    RegistrationResult,
    RegistrationStatus,
    StatusChange,
    StatusChangePage,
)
from contracts.common import STATUS_CODES, StatusTransition
from mock_services.civil_registry_store import StoredRegistration
from mock_services.people import keyed_int, keyed_random, make_personal_id, permute, unpermute

VIETNAM_TZ = timezone(timedelta(hours=7))  # Asia/Ho_Chi_Minh has had no DST since 1975

DUE_MINUTES = 480
_ID_MODULUS = 10**10
_KIND_PREFIX: dict[str, str] = {"birth": "KS", "death": "KT"}
# Newborn serials start above every population serial (< 010000): no collision, ever.
NEWBORN_SERIAL_MIN = 10_000
_SERIAL_MODULUS = 10**6
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

# Reasons a registrar gives (lý do tạm dừng / từ chối) — categories, not names.
_PAUSE_NOTES: dict[RegistrationKind, tuple[str, ...]] = {
    "birth": ("Chờ bổ sung giấy chứng sinh", "Chờ xác minh nơi cư trú của cha, mẹ"),
    "death": ("Chờ bổ sung giấy báo tử", "Chờ xác minh nơi cư trú cuối cùng của người chết"),
}
_REJECT_NOTES: dict[RegistrationKind, tuple[str, ...]] = {
    "birth": (
        "Thông tin trẻ không khớp với giấy chứng sinh",
        "Trẻ đã được đăng ký khai sinh tại cơ quan khác",
    ),
    "death": ("Giấy báo tử không hợp lệ", "Người chết đã được đăng ký khai tử tại cơ quan khác"),
}

LifecyclePath = Literal["normal", "paused", "overdue", "rejected"]


@dataclass(frozen=True, slots=True)
class Step:
    status: RegistrationStatus
    minute: int  # simulated minutes after submission
    note: str | None = None


@dataclass(frozen=True, slots=True)
class LifecyclePlan:
    """Every transition a registration will go through, decided once from the seed and id."""

    path: LifecyclePath
    steps: tuple[Step, ...]


def lifecycle_plan(seed: int, registration_id: str) -> LifecyclePlan:
    """The registration's whole lifecycle, in simulated minutes (pure: seed and id only)."""
    kind = kind_of(registration_id)
    rng = keyed_random(seed, "lifecycle", registration_id)
    roll = rng.random()
    path: LifecyclePath = (
        "rejected"
        if roll < 0.12
        else "overdue"
        if roll < 0.24
        else ("paused" if roll < 0.38 else "normal")
    )
    t = rng.randint(5, 60)
    steps = [Step("received", 0), Step("processing", t)]
    if path == "rejected":
        note = rng.choice(_REJECT_NOTES[kind])
        return LifecyclePlan(path, (*steps, Step("rejected", t + rng.randint(10, 120), note)))
    if path == "paused":  # the longest pause still ends before the deadline (≤ 400 < 480)
        t += rng.randint(10, 40)
        steps.append(Step("paused", t, rng.choice(_PAUSE_NOTES[kind])))
        t += rng.randint(30, 180)
        steps.append(Step("processing", t))
        t += rng.randint(20, 120)
    elif path == "overdue":
        steps.append(Step("overdue", DUE_MINUTES))
        t = DUE_MINUTES + rng.randint(30, 600)
    else:
        t += rng.randint(30, 300)
    steps += [Step("processed", t), Step("returned", t + rng.randint(10, 120))]
    return LifecyclePlan(path, tuple(steps))


def kind_of(registration_id: str) -> RegistrationKind:
    return "birth" if registration_id.startswith("KS") else "death"


def registration_id(seed: int, row: StoredRegistration) -> str:
    """``KS``/``KT`` + province + a keyed bijection of the row's insertion number."""
    number = permute(seed, "registration", row.seq, _ID_MODULUS)
    return f"{_KIND_PREFIX[row.kind]}{row.province_code}{number:010d}"


def seq_of(seed: int, registration_id: str) -> int:
    """Inverse of :func:`registration_id` (the caller checks kind and province on the row)."""
    return unpermute(seed, "registration", int(registration_id[5:]), _ID_MODULUS)


def newborn_serial(seed: int, seq: int) -> int:
    """A six-digit serial ≥ 010000, distinct for every registration (cycle-walking permutation)."""
    span = _SERIAL_MODULUS - NEWBORN_SERIAL_MIN
    serial = NEWBORN_SERIAL_MIN + (seq - 1) % span
    while True:  # a bijection on [0, 10⁶) restricted to [010000, 10⁶) by walking its cycles
        serial = permute(seed, "newborn-serial", serial, _SERIAL_MODULUS)
        if serial >= NEWBORN_SERIAL_MIN:
            return serial


def to_us(moment: datetime) -> int:
    return (moment - _EPOCH) // timedelta(microseconds=1)


def from_us(us: int) -> datetime:
    return (_EPOCH + timedelta(microseconds=us)).astimezone(VIETNAM_TZ)


@dataclass(frozen=True, slots=True)
class Transition:
    """A step placed in time: ``position`` orders transitions across registrations."""

    step: Step
    at_us: int
    position: tuple[int, int, int]  # (at_us, seq, index): unique, so cursors never skip ties


def timeline(seed: int, row: StoredRegistration) -> list[Transition]:
    rid = registration_id(seed, row)
    minute_us = row.minute_s * 1_000_000
    placed = []
    for index, step in enumerate(lifecycle_plan(seed, rid).steps):
        at_us = row.submitted_us + round(step.minute * minute_us)
        placed.append(Transition(step, at_us, (at_us, row.seq, index)))
    return placed


def settled_us(seed: int, row: StoredRegistration) -> int:
    """When the registration's last transition happens (nothing changes after it)."""
    return timeline(seed, row)[-1].at_us


# --- what a registration looks like at a given time ------------------------------------


def registration_view(seed: int, row: StoredRegistration, now: datetime) -> Registration:
    """The registration as seen at ``now``: only transitions that have already happened."""
    rid = registration_id(seed, row)
    horizon = max(to_us(now), row.submitted_us)  # "received" shows even if the clock lags
    history = [t for t in timeline(seed, row) if t.at_us <= horizon]
    reached = {t.step.status: t for t in history}
    current = history[-1]
    result = None
    if "processed" in reached:
        processed_year = from_us(reached["processed"].at_us).year
        number = keyed_int(seed, "certificate", rid) % 4999 + 1
        child_id = None
        if row.kind == "birth":
            child = BirthRegistrationRequest.model_validate_json(row.body).child
            child_id = make_personal_id(
                row.province_code,
                child.gender,
                child.date_of_birth.year,
                newborn_serial(seed, row.seq),
            )
        result = RegistrationResult(
            certificate_number=f"{number}/{processed_year}", child_personal_id=child_id
        )
    return Registration(
        registration_id=rid,
        kind=row.kind,
        province_code=row.province_code,
        dossier_code=row.dossier_code,
        status=current.step.status,
        status_code=STATUS_CODES[current.step.status],
        received_at=from_us(row.submitted_us),
        due_at=from_us(row.submitted_us + round(DUE_MINUTES * row.minute_s * 1_000_000)),
        status_changed_at=from_us(current.at_us),
        processed_at=from_us(reached["processed"].at_us) if "processed" in reached else None,
        returned_at=from_us(reached["returned"].at_us) if "returned" in reached else None,
        result=result,
        history=[
            StatusTransition(
                status=t.step.status,
                status_code=STATUS_CODES[t.step.status],
                at=from_us(t.at_us),
                note=t.step.note,
            )
            for t in history
        ],
    )


# --- status changes (đồng bộ trạng thái) ---------------------------------------------------

_AFTER_EVERY_TIE = 2**62  # a seq larger than any row's: "(since, ∞)" excludes ``at == since``


def encode_cursor(position: tuple[int, int, int]) -> str:
    """``<µs>.<seq>.<step>``: plain, so that the contract's pattern says exactly what is valid
    (an opaque base64 cursor made ``cursor=0`` schema-valid yet refused)."""
    return ".".join(map(str, position))


def decode_cursor(cursor: str) -> tuple[int, int, int]:
    """The position a cursor names; ``ValueError`` if it is not of the published form."""
    if re.fullmatch(CURSOR_PATTERN, cursor) is None:
        raise ValueError("not a cursor from next_cursor")
    at_us, seq, index = (int(part) for part in cursor.split("."))
    return at_us, seq, index


def status_change_page(
    seed: int,
    rows: Iterable[StoredRegistration],
    *,
    since: datetime,
    cursor: tuple[int, int, int] | None,
    now: datetime,
    limit: int,
) -> StatusChangePage:
    """Transitions strictly after ``since`` (and after ``cursor``) and at or before ``now``."""
    start = (to_us(since), _AFTER_EVERY_TIE, 0)
    if cursor is not None:
        start = max(start, cursor)
    now_us = to_us(now)
    found = []
    for row in rows:
        rid = registration_id(seed, row)
        for t in timeline(seed, row):
            if t.position > start and t.at_us <= now_us:
                found.append((t, row, rid))
    found.sort(key=lambda item: item[0].position)
    page = found[:limit]
    items = [
        StatusChange(
            registration_id=rid,
            kind=row.kind,
            province_code=row.province_code,
            dossier_code=row.dossier_code,
            status=t.step.status,
            status_code=STATUS_CODES[t.step.status],
            at=from_us(t.at_us),
            note=t.step.note,
        )
        for t, row, rid in page
    ]
    return StatusChangePage(
        items=items,
        until=from_us(now_us),
        has_more=len(found) > limit,
        next_cursor=encode_cursor(page[-1][0].position) if page else None,
    )


__all__ = [
    "DUE_MINUTES",
    "NEWBORN_SERIAL_MIN",
    "STATUS_CODES",
    "VIETNAM_TZ",
    "LifecyclePlan",
    "Step",
    "Transition",
    "decode_cursor",
    "encode_cursor",
    "from_us",
    "kind_of",
    "lifecycle_plan",
    "newborn_serial",
    "registration_id",
    "registration_view",
    "seq_of",
    "settled_us",
    "status_change_page",
    "timeline",
    "to_us",
]
