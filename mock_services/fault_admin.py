"""The fault engine's admin routes on every mock: ``GET/PUT/DELETE /_faults/scenario``.

The gateway's admin API (its own credential, for people) switches a scenario on all mocks by
calling these (and ``PUT /_faults/clock``, which shifts the clock the rules' time-of-day
matches and maintenance windows read); they take the gateway's admin token as a Bearer
credential, and stay out of the published OpenAPI documents (``include_in_schema=False``):
they are not part of any contract.
``PUT`` takes a scenario as JSON, the shape of a scenario file, validated exactly as a file is
(a 422 ``invalid_scenario`` lists each problem); the switch is one assignment, no restart.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import TYPE_CHECKING

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from contracts.common import FieldError, Problem
from mock_services.scenarios import ScenarioError, parse_scenario
from mock_services.service import problem_response

if TYPE_CHECKING:
    from mock_services.faults import FaultEngine

admin_router = APIRouter(prefix="/_faults", include_in_schema=False)


def _problem(status: int, code: str, title: str, detail: str) -> Response:
    return problem_response(Problem(title=title, status=status, code=code, detail=detail))


def _refused(request: Request) -> Response | None:
    """401 unless ``Authorization: Bearer <gateway admin token>`` (the gateway holds it)."""
    settings = getattr(request.app.state, "settings", None)
    expected = f"Bearer {settings.gateway.admin_token.get_secret_value()}" if settings else None
    given = request.headers.get("authorization", "")
    if expected is not None and secrets.compare_digest(given.encode(), expected.encode()):
        return None
    return _problem(
        401, "unauthenticated", "Unauthenticated", "Send the admin token as a Bearer credential."
    )


def _engine(request: Request) -> FaultEngine:
    engine: FaultEngine = request.app.state.fault_engine
    return engine


@admin_router.get("/scenario")
async def get_scenario(request: Request) -> Response:
    """The active scenario of this mock and the count of faults each rule injected."""
    if refused := _refused(request):
        return refused
    return JSONResponse(_engine(request).describe())


@admin_router.put("/scenario")
async def put_scenario(request: Request) -> Response:
    """Switch to the scenario in the body (JSON, the shape of a scenario file), at once."""
    if refused := _refused(request):
        return refused
    try:
        data = await request.json()
    except ValueError:
        return _problem(400, "invalid_request", "Invalid request", "The body is not JSON.")
    try:
        scenario = parse_scenario(data, origin="PUT /_faults/scenario")
    except ScenarioError as exc:
        errors = [
            FieldError(loc=[i.field], msg=i.message, type="invalid_scenario") for i in exc.issues
        ]
        problem = Problem(
            title="Invalid scenario",
            status=422,
            code="invalid_scenario",
            detail=str(exc),
            errors=errors,
        )
        return problem_response(problem)
    _engine(request).set_scenario(scenario)
    return JSONResponse(_engine(request).describe())


@admin_router.put("/clock")
async def put_clock(request: Request) -> Response:
    """Shift the fault clock: ``{"at": "2024-06-04T09:00:00+07:00"}``, or ``{"at": null}``."""
    if refused := _refused(request):
        return refused
    try:
        data = await request.json()
        raw = data["at"]
        at = None if raw is None else datetime.fromisoformat(raw)
    except (ValueError, KeyError, TypeError):
        return _problem(
            422,
            "invalid_request",
            "Invalid request",
            'Send {"at": "<ISO 8601 date-time with offset>"} or {"at": null}.',
        )
    if at is not None and at.tzinfo is None:
        return _problem(
            422, "invalid_request", "Invalid request", "at needs a UTC offset, e.g. +07:00."
        )
    _engine(request).set_clock(at)
    return JSONResponse(_engine(request).describe())


@admin_router.delete("/scenario")
async def delete_scenario(request: Request) -> Response:
    """Back to healthy: no rules."""
    if refused := _refused(request):
        return refused
    _engine(request).set_scenario(None)
    return JSONResponse(_engine(request).describe())
