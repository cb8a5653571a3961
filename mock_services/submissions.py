"""What the mocks that take dossiers from provinces share: the idempotent submission on the
province's dossier code (201 when new, 200 with the same answer on an identical repeat, 409
``dossier_code_conflict`` for another body), its documented responses, and the operation's
route arguments."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from fastapi import Response
from pydantic import BaseModel

from contracts.catalogue import operation
from contracts.common import problem_responses
from contracts.provinces import PROVINCE_CODES
from mock_services.civil_registry_store import RegistrationStore, StoredRegistration
from mock_services.service import ProblemError

T = TypeVar("T")


class DossierBody(Protocol):
    """A province's request: its dossier code, its province and its canonical JSON."""

    @property
    def province_code(self) -> str: ...

    @property
    def dossier_code(self) -> str: ...

    def model_dump_json(self) -> str: ...


def operation_args(provider: str, operation_id: str) -> dict[str, Any]:
    """A route's ``operation_id`` and the catalogue's summary for it."""
    return {"operation_id": operation_id, "summary": operation(provider, operation_id).summary}


def check_province(province_code: str) -> None:
    """422 ``invalid_request`` unless ``province_code`` is one of the 63 province codes."""
    if province_code not in PROVINCE_CODES:
        raise ProblemError(
            422,
            "invalid_request",
            "Invalid request",
            f"province_code: {province_code} is not a province code.",
        )


def submit_once(
    store: RegistrationStore,
    body: DossierBody,
    *,
    kind: str,
    submitted_us: int,
    minute_s: float,
    settled_us: Callable[[StoredRegistration], int],
    sent: str,
) -> tuple[StoredRegistration, bool]:
    """Store ``body`` unless its ``(province_code, dossier_code)`` is known: the row and whether
    it is new. A repeat must be identical (same kind, same body), else 409
    ``dossier_code_conflict``, whose detail says the province ``sent`` the dossier before."""
    canonical = body.model_dump_json()
    row, created = store.submit(
        kind=kind,
        province_code=body.province_code,
        dossier_code=body.dossier_code,
        body=canonical,
        submitted_us=submitted_us,
        minute_s=minute_s,
        settled_us=settled_us,
    )
    if not created and (row.kind != kind or row.body != canonical):
        raise ProblemError(
            409,
            "dossier_code_conflict",
            "Dossier code already used",
            f"Province {body.province_code} already {sent} dossier {body.dossier_code} "
            "with a different body; a repeat must be identical (use a new dossier code).",
        )
    return row, created


def submission_responses(
    model: type[BaseModel], *, repeat: str, created: str, conflict: str, invalid: str
) -> dict[int | str, dict[str, Any]]:
    """The documented answers of an idempotent submission: 200 ``repeat`` (the ``model``), 201
    ``created``, 400, 409 ``dossier_code_conflict: <conflict>`` and 422 ``<invalid>``."""
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": model, "description": repeat},
        201: {"description": created},
        **problem_responses(400, 409, 422),
    }
    responses[409]["description"] = f"dossier_code_conflict: {conflict}"
    responses[422]["description"] = invalid
    return responses


def answered(response: Response, answer: tuple[T, bool]) -> T:
    """The submission's answer, with 201 on ``response`` when it was created, 200 on a repeat."""
    value, created = answer
    response.status_code = 201 if created else 200
    return value


__all__ = [
    "DossierBody",
    "answered",
    "check_province",
    "operation_args",
    "submission_responses",
    "submit_once",
]
