"""What the mocks that take dossiers from provinces share: the idempotent submission on the
province's dossier code (201 when new, 200 with the same answer on an identical repeat, 409
``dossier_code_conflict`` for another body), its documented responses, and the operation's
route arguments."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, Self, TypeVar

from fastapi import APIRouter, FastAPI, Request, Response
from pydantic import BaseModel

from contracts.catalogue import operation
from contracts.common import problem_responses
from contracts.provinces import PROVINCE_CODES
from mock_services.civil_registry_lifecycle import VIETNAM_TZ
from mock_services.civil_registry_store import RegistrationStore, StoredRegistration
from mock_services.openapi import Example
from mock_services.service import ProblemError, ServiceInfo, create_service_app
from ndxp_config.settings import Settings

T = TypeVar("T")
F = TypeVar("F", bound=Callable[..., Any])
Clock = Callable[[], datetime]


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


@dataclass(frozen=True)
class DossierDesk:
    """What a dossier mock's handlers share: the seed, the store, the clock and the lifecycle
    time scale (``mocks.lifecycle_minute_s``)."""

    seed: int
    store: RegistrationStore
    clock: Clock
    minute_s: float

    @classmethod
    def open(cls, settings: Settings, provider: str, clock: Clock | None) -> Self:
        """The desk on ``<state_dir>/<provider>-<seed>.db`` (one file per seed, since ids and
        lifecycles are keyed on the seed); ``clock`` defaults to the wall clock."""
        seed = settings.mocks.seed
        return cls(
            seed=seed,
            store=RegistrationStore(settings.state_dir / f"{provider}-{seed}.db"),
            clock=clock or (lambda: datetime.now(VIETNAM_TZ)),
            minute_s=settings.mocks.lifecycle_minute_s,
        )

    @classmethod
    def of(cls, request: Request) -> Self:
        """The desk of the app that took ``request`` (see :meth:`app`)."""
        desk: Self = request.app.state.desk
        return desk

    def app(
        self,
        info: ServiceInfo,
        router: APIRouter,
        settings: Settings,
        examples: Callable[[int], Mapping[str, Example]],
    ) -> FastAPI:
        """The mock's app, serving ``router`` from this desk."""
        return create_service_app(
            info, router, settings, state={"examples": examples, "desk": self}
        )


def post_submission(
    router: APIRouter,
    provider: str,
    path: str,
    operation_id: str,
    responses: dict[int | str, dict[str, Any]],
) -> Callable[[F], F]:
    """The route of an idempotent submission: POST ``path``, 201 by default."""
    return router.post(
        path, **operation_args(provider, operation_id), status_code=201, responses=responses
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
    model: type[BaseModel], noun: str, *, sent: str, invalid: str, repeat: str | None = None
) -> dict[int | str, dict[str, Any]]:
    """The documented answers of an idempotent submission of ``noun`` ("the request"): 200 on
    a repeat (the ``model``: ``repeat``, default ``noun``, as now), 201, 400, 409
    ``dossier_code_conflict`` (the code was already ``sent``) and 422 ``invalid``."""
    responses: dict[int | str, dict[str, Any]] = {
        200: {"model": model, "description": f"A repeat: {repeat or noun}, as now."},
        201: {"description": f"Created: {noun}, just received."},
        **problem_responses(400, 409, 422),
    }
    responses[409]["description"] = (
        f"dossier_code_conflict: this dossier code was already {sent} with another body"
    )
    responses[422]["description"] = invalid
    return responses


def answered(response: Response, answer: tuple[T, bool]) -> T:
    """The submission's answer, with 201 on ``response`` when it was created, 200 on a repeat."""
    value, created = answer
    response.status_code = 201 if created else 200
    return value


__all__ = [
    "DossierBody",
    "DossierDesk",
    "answered",
    "check_province",
    "operation_args",
    "post_submission",
    "submission_responses",
    "submit_once",
]
