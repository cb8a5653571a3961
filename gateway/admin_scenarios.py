"""Scenario control through the gateway's admin API: one switch for all mock national databases.

``GET /admin/scenarios`` lists the catalogue (``scenarios/*.yaml``); ``PUT /admin/scenario``
applies one to every mock (each mock's ``PUT /_faults/scenario``) and starts a *run*
(:mod:`gateway.runs`); ``DELETE /admin/scenario`` goes back to ``baseline``;
``PUT /admin/clock`` shifts the mocks' fault clock; ``GET /admin/runs`` lists runs for
``ndxp-sim report``.

The routes' hops (the LGSP, VDXP: ``hops/``) take the scenario too, after the mocks; one the
scenario has rules for (``match.hop``) must answer before anything is switched.

A switch is all-or-nothing: the scenario is validated here first (the same parser as the mocks'),
then sent to all mocks at once; if any mock refuses or cannot be reached, the mocks that did
switch are put back on what they ran before, no run is recorded, and the answer is 502 naming
the mock. Requests in flight finish under the scenario they started with (see
:meth:`mock_services.faults.FaultEngine.set_scenario`).
"""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from functools import partial
from typing import Any

import httpx
from fastapi import APIRouter, Depends

from contracts.common import problem_responses
from contracts.gateway import (
    ClockUpdate,
    ProviderScenario,
    Run,
    RunList,
    ScenarioStatus,
    ScenarioSummary,
    ScenarioSwitch,
)
from gateway.admin import require_admin
from gateway.errors import GatewayError, InvalidRequest, NotFound, UpstreamError
from gateway.runtime import Runtime, RuntimeDep
from gateway.scenario_gate import GateRule
from gateway.upstream import map_httpx_errors
from mock_services.fault_specs import RULE_ID_PATTERN
from mock_services.fault_values import Window
from mock_services.scenarios import SCENARIOS_DIR, Scenario, ScenarioError, find_scenario
from mock_services.scenarios import load_catalogue as _load_catalogue

BASELINE = "baseline"
MOCK_TIMEOUT_S = 5.0
_SCENARIO_ID = re.compile(RULE_ID_PATTERN)

router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=problem_responses(400, 401, 404),
)


def _summary(scenario: Scenario) -> ScenarioSummary:
    return ScenarioSummary(
        id=scenario.id,
        title=scenario.title,
        failure_modes=list(scenario.failure_modes),
        rules=len(scenario.rules),
        source=list(scenario.source),
    )


def _catalogue(runtime: Runtime) -> dict[str, Scenario]:
    try:
        return _load_catalogue(runtime.settings.scenarios_dir or SCENARIOS_DIR)
    except ScenarioError as exc:
        raise InvalidRequest(f"the scenario catalogue is invalid: {exc}") from None


def _find(runtime: Runtime, name: str) -> Scenario:
    if not _SCENARIO_ID.fullmatch(name):
        raise NotFound(f"{name!r} is not a scenario id (lower-case letters, digits, hyphens)")
    try:
        return find_scenario(name, runtime.settings.scenarios_dir or SCENARIOS_DIR)
    except ScenarioError as exc:
        if exc.issues and exc.issues[0].field == "":
            raise NotFound(exc.issues[0].message) from None  # no such file
        raise InvalidRequest(f"scenario {name!r} is invalid: {exc}") from None


@router.get("/scenarios", summary="The scenario catalogue")
async def list_scenarios(runtime: RuntimeDep) -> list[ScenarioSummary]:
    return [_summary(s) for s in _catalogue(runtime).values()]


@router.get("/scenarios/{name}", summary="One scenario of the catalogue, in full")
async def show_scenario(runtime: RuntimeDep, name: str) -> dict[str, Any]:
    document: dict[str, Any] = _find(runtime, name).model_dump(mode="json")
    return document


@router.get("/scenario", summary="The current run and what each mock runs")
async def scenario_status(runtime: RuntimeDep) -> ScenarioStatus:
    runs = await runtime.runs.recent(1)
    current = runs[0] if runs and runs[0].ended_at is None else None
    names = list(runtime.clients)
    states = await asyncio.gather(*(_read(runtime, name) for name in names))
    return ScenarioStatus(run=current, providers=dict(zip(names, states, strict=True)))


@router.put(
    "/scenario",
    summary="Switch every mock to a scenario, at once (starts a run)",
    responses=problem_responses(422, 502),
)
async def switch_scenario(runtime: RuntimeDep, switch: ScenarioSwitch) -> Run:
    scenario = _find(runtime, switch.name)
    if switch.seed is not None:
        scenario = scenario.model_copy(update={"seed": switch.seed})
    return await apply_scenario(runtime, scenario, switch.at)


@router.delete("/scenario", summary="Back to baseline on every mock (starts a run)")
async def clear_scenario(runtime: RuntimeDep) -> Run:
    return await apply_scenario(runtime, _find(runtime, BASELINE), None)


@router.put("/clock", summary="Shift the mocks' fault clock (maintenance windows, time of day)")
async def put_clock(runtime: RuntimeDep, update: ClockUpdate) -> dict[str, ProviderScenario]:
    at = update.at.isoformat() if update.at else None
    await _on_all(runtime, "PUT", "/_faults/clock", {"at": at})
    runtime.gate.set_clock(update.at)
    names = list(runtime.clients)
    states = await asyncio.gather(*(_read(runtime, name) for name in names))
    return dict(zip(names, states, strict=True))


@router.get("/runs", summary="Runs, newest first")
async def list_runs(runtime: RuntimeDep) -> RunList:
    return RunList(items=await runtime.runs.recent())


@router.get("/runs/{run_id}", summary="One run; `latest` names the newest")
async def get_run(runtime: RuntimeDep, run_id: str) -> Run:
    run = await runtime.runs.get(run_id)
    if run is None:
        raise NotFound(f"no run {run_id!r}; GET /admin/runs lists them")
    return run


async def apply_scenario(runtime: Runtime, scenario: Scenario, at: datetime | None) -> Run:
    """Switch all mocks to ``scenario`` (and the fault clock to ``at``), or none of them."""
    document = scenario.model_dump(mode="json")
    needed = await _hops_ready(runtime, scenario)
    before = {name: await _document(runtime, name) for name in runtime.clients}
    results = await asyncio.gather(
        *(_send(runtime, name, "PUT", "/_faults/scenario", document) for name in runtime.clients),
        return_exceptions=True,
    )
    failed = {
        name: result
        for name, result in zip(runtime.clients, results, strict=True)
        if isinstance(result, BaseException)
    }
    if failed:
        switched = [name for name in runtime.clients if name not in failed]
        await asyncio.gather(
            *(_restore(runtime, name, before[name]) for name in switched),
            return_exceptions=True,
        )
        reasons = "; ".join(f"{name}: {error}" for name, error in failed.items())
        raise UpstreamError(
            f"scenario {scenario.id!r} not applied ({reasons}); the other mocks were put back "
            "on their previous scenario"
        )
    await _on_all(runtime, "PUT", "/_faults/clock", {"at": at.isoformat() if at else None})
    await _hops_follow(runtime, document, at, needed)
    runtime.gate.set_rules(gate_rules(scenario))  # its rules at the gateway itself (FM-07)
    runtime.gate.set_clock(at)
    return await runtime.runs.start(document, seed=scenario.seed, clock_at=at)


def gate_rules(scenario: Scenario) -> list[GateRule]:
    """The scenario's rules with ``match.hop: gateway``, as the gateway applies them."""
    found = []
    for rule in scenario.rules:
        if rule.match.hop != "gateway":
            continue
        windows = rule.match.during  # required for a gateway rule (mock_services.fault_specs)
        found.append(
            GateRule(
                rule_id=rule.id,
                fault=f"{rule.fault.kind}:{rule.id}",
                provider=rule.match.provider,
                during=", ".join(window.describe() for window in windows),
                applies=rule.match.matches,
                ends_at=partial(_window_end, windows),
            )
        )
    return found


def _window_end(windows: tuple[Window, ...], now: datetime) -> datetime:
    return next(window for window in windows if window.contains(now)).ends_at(now)


def _hop_urls(runtime: Runtime) -> dict[str, str]:
    settings = runtime.settings
    return {"lgsp": settings.lgsp.url, "vdxp": settings.vdxp.url}


async def _hops_ready(runtime: Runtime, scenario: Scenario) -> set[str]:
    """The routes' hops (LGSP, VDXP) the scenario has rules for; each must answer, or the
    switch is refused before any mock changes (a stack without hops runs every other one)."""
    needed = {str(rule.match.hop) for rule in scenario.rules} & set(_hop_urls(runtime))
    for hop in sorted(needed):
        url = _hop_urls(runtime)[hop]
        try:
            async with httpx.AsyncClient(timeout=MOCK_TIMEOUT_S) as client:
                healthy = (await client.get(f"{url}/healthz")).status_code == 200
        except httpx.HTTPError:
            healthy = False
        if not healthy:
            raise UpstreamError(
                f"scenario {scenario.id!r} has rules for the {hop} hop, which does not answer "
                f"at {url}; start it (ndxp-sim up starts it) or set NDXP_{hop.upper()}__PORT"
            )
    return needed


async def _hops_follow(
    runtime: Runtime, document: dict[str, Any], at: datetime | None, needed: set[str]
) -> None:
    """Switch the hops too (their rules strike there, FM-10); a hop without rules in this
    scenario that does not answer is not running, which is no error."""
    token = runtime.settings.gateway.admin_token.get_secret_value()
    headers = {"Authorization": f"Bearer {token}"}
    clock = {"at": at.isoformat() if at else None}
    for hop, url in _hop_urls(runtime).items():
        try:
            async with httpx.AsyncClient(timeout=MOCK_TIMEOUT_S, headers=headers) as client:
                answer = await client.put(f"{url}/_faults/scenario", json=document)
                if answer.status_code == 200:
                    answer = await client.put(f"{url}/_faults/clock", json=clock)
            failure = None if answer.status_code == 200 else f"{answer.status_code} {answer.text}"
        except httpx.HTTPError as exc:
            failure = repr(exc)
        if failure is not None and hop in needed:
            raise UpstreamError(f"the {hop} hop refused scenario {document['id']!r}: {failure}")


async def _on_all(runtime: Runtime, method: str, path: str, body: dict[str, Any]) -> None:
    results = await asyncio.gather(
        *(_send(runtime, name, method, path, body) for name in runtime.clients),
        return_exceptions=True,
    )
    failed = [
        f"{name}: {result}"
        for name, result in zip(runtime.clients, results, strict=True)
        if isinstance(result, BaseException)
    ]
    if failed:
        raise UpstreamError(f"{method} {path} failed on {'; '.join(failed)}")


async def _send(
    runtime: Runtime, name: str, method: str, path: str, body: dict[str, Any] | None
) -> dict[str, Any]:
    """One admin call to one mock; any failure becomes a :class:`GatewayError`."""
    token = runtime.settings.gateway.admin_token.get_secret_value()
    with map_httpx_errors(name, MOCK_TIMEOUT_S):
        response = await runtime.clients[name].request(
            method,
            path,
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=MOCK_TIMEOUT_S,
        )
    if response.status_code != 200:
        raise UpstreamError(f"{name} answered {response.status_code}: {response.text[:300]}")
    data: dict[str, Any] = response.json()
    return data


async def _document(runtime: Runtime, name: str) -> dict[str, Any] | None:
    try:
        described = await _send(runtime, name, "GET", "/_faults/scenario", None)
    except GatewayError:
        return None
    document: dict[str, Any] | None = described.get("scenario")
    return document


async def _restore(runtime: Runtime, name: str, document: dict[str, Any] | None) -> None:
    if document is None:
        await _send(runtime, name, "DELETE", "/_faults/scenario", None)
    else:
        await _send(runtime, name, "PUT", "/_faults/scenario", document)


async def _read(runtime: Runtime, name: str) -> ProviderScenario:
    try:
        described = await _send(runtime, name, "GET", "/_faults/scenario", None)
    except GatewayError as err:
        return ProviderScenario(scenario=None, detail=f"{err.code}: {err.detail}")
    document = described.get("scenario") or {}
    return ProviderScenario(
        scenario=document.get("id", BASELINE) if document else BASELINE,
        clock=described.get("clock"),
        rules=described.get("rules", []),
    )
