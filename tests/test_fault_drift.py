"""FM-08's fault kinds (:mod:`mock_services.fault_drift`): each changes an answer (or what a
request must carry) the way an unannounced contract change does, and the gateway's contract
check (:class:`gateway.contract_check.ContractChecker`) flags exactly the paths the rule
explains. Mocks run in-process with the engine installed; v2 operations are never touched by
a rule on their v1 twin."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts.driver_licence import RenewalDossierPage
from contracts.headers import INJECTED_FAULT_HEADER
from gateway.contract_check import ContractChecker
from mock_services import civil_registry, driver_licence, population
from mock_services.faults import FaultEngine, install_fault_engine
from mock_services.scenarios import Scenario, ScenarioError, parse_scenario
from ndxp_config.settings import Settings

SEED = 2024
CITIZEN = population.examples(SEED)["get_citizen"].path_params["personal_id"]
DL_EXAMPLES = driver_licence.examples(SEED)
LICENCE = DL_EXAMPLES["get_licence"].path_params["licence_number"]
DOSSIER = DL_EXAMPLES["get_renewal_dossier"].path_params["dossier_id"]
WINDOW = {"from": "2024-06-02T17:00:00Z", "to": "2024-06-03T17:00:00Z", "province": "038"}
checker = ContractChecker()


def one_rule(provider: str, fault: dict[str, Any], operations: list[str]) -> Scenario:
    return parse_scenario(
        {
            "id": "drift",
            "title": "Drift",
            "description": "One drift rule.",
            "source": ["tests"],
            "seed": SEED,
            "rules": [
                {
                    "id": "drift",
                    "failure_mode": "FM-08",
                    "match": {"provider": provider, "operations": operations},
                    "fault": fault,
                }
            ],
        }
    )


@pytest.fixture
async def call(
    settings: Settings, client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> AsyncIterator[Callable[..., Any]]:
    """``await call(module, scenario, method, path, **kw)``: one request to a fresh mock."""
    clients: list[httpx.AsyncClient] = []

    async def send(
        module: Any, active: Scenario | None, method: str, path: str, **kwargs: Any
    ) -> httpx.Response:
        app: FastAPI = module.create_app(settings)
        install_fault_engine(app, FaultEngine(app.state.provider, active))
        client = client_for(app)
        clients.append(client)
        return await client.request(method, path, **kwargs)

    yield send
    for client in clients:
        await client.aclose()


def flagged(model: str, response: httpx.Response) -> list[str]:
    return checker.check(model, response.content)


async def test_rename_field_is_flagged_under_both_names(call: Callable[..., Any]) -> None:
    active = one_rule(
        "population",
        {"kind": "rename_field", "renames": {"id_card_issue_date": "id_card_issued_on"}},
        ["get_citizen"],
    )
    truth = (await call(population, None, "GET", f"/v1/citizens/{CITIZEN}")).json()
    drifted = await call(population, active, "GET", f"/v1/citizens/{CITIZEN}")
    assert drifted.headers[INJECTED_FAULT_HEADER] == "rename_field:drift"
    body = drifted.json()
    assert "id_card_issue_date" not in body
    assert body["id_card_issued_on"] == truth["id_card_issue_date"]
    violations = flagged("population:Citizen", drifted)
    assert set(violations) == {"id_card_issue_date", "id_card_issued_on"}
    assert set(active.rules[0].fault.explains([*violations, "phone"])) == set(violations)
    # v2 publishes the new name: its own operation is neither touched nor flagged
    v2 = await call(population, active, "GET", f"/v2/citizens/{CITIZEN}")
    assert INJECTED_FAULT_HEADER not in v2.headers
    assert flagged("population_v2:Citizen", v2) == []


async def test_change_type_sends_an_amount_as_text_and_only_a_strict_check_sees_it(
    call: Callable[..., Any],
) -> None:
    active = one_rule(
        "driver-licence",
        {"kind": "change_type", "paths": ["items[*].fees_collected"], "to": "string"},
        ["list_renewal_dossiers"],
    )
    drifted = await call(driver_licence, active, "GET", "/v1/renewal-dossiers", params=WINDOW)
    items = drifted.json()["items"]
    assert items
    assert all(isinstance(item["fees_collected"], str) for item in items)
    assert flagged("driver_licence:RenewalDossierPage", drifted) == ["items[].fees_collected"]
    lax = RenewalDossierPage.model_validate_json(drifted.content)
    assert lax.items[0].fees_collected == int(items[0]["fees_collected"])  # why strict matters
    assert active.rules[0].fault.explains(["items[].fees_collected"]) == ("items[].fees_collected",)


async def test_change_enum_spells_a_class_the_contract_does_not_list(
    call: Callable[..., Any],
) -> None:
    truth = (await call(driver_licence, None, "GET", f"/v1/licences/{LICENCE}")).json()
    held = truth["classes"][0]["licence_class"]
    active = one_rule(
        "driver-licence",
        {"kind": "change_enum", "paths": ["classes[*].licence_class"], "mapping": {held: "Z9"}},
        ["get_licence"],
    )
    drifted = await call(driver_licence, active, "GET", f"/v1/licences/{LICENCE}")
    assert drifted.json()["classes"][0]["licence_class"] == "Z9"
    assert flagged("driver_licence:Licence", drifted) == ["classes[].licence_class"]


async def test_date_format_writes_dates_and_timestamps_the_local_way(
    call: Callable[..., Any],
) -> None:
    active = one_rule(
        "population",
        {"kind": "date_format", "paths": ["date_of_birth", "father.date_of_birth"]},
        ["get_citizen"],
    )
    truth = (await call(population, None, "GET", f"/v1/citizens/{CITIZEN}")).json()
    drifted = await call(population, active, "GET", f"/v1/citizens/{CITIZEN}")
    year, month, day = truth["date_of_birth"].split("-")
    assert drifted.json()["date_of_birth"] == f"{day}/{month}/{year}"
    expected = {"date_of_birth"} | ({"father.date_of_birth"} if truth["father"] else set())
    assert set(flagged("population:Citizen", drifted)) == expected
    licence = one_rule(
        "driver-licence",
        {"kind": "date_format", "paths": ["received_at", "return_date"], "format": "unix_ms"},
        ["get_renewal_dossier"],
    )
    dossier = await call(driver_licence, licence, "GET", f"/v1/renewal-dossiers/{DOSSIER}")
    assert isinstance(dossier.json()["received_at"], int)
    assert set(flagged("driver_licence:RenewalDossier", dossier)) == {"received_at", "return_date"}


async def test_require_field_refuses_requests_without_it_and_takes_those_with_it(
    call: Callable[..., Any],
) -> None:
    active = one_rule(
        "civil-registry",
        {"kind": "require_field", "field": "declarant"},
        ["submit_birth_registration"],
    )
    birth = civil_registry.example_requests(SEED)[0].model_dump(mode="json")
    refused = await call(civil_registry, active, "POST", "/v1/birth-registrations", json=birth)
    assert refused.status_code == 422
    assert (
        refused.headers[INJECTED_FAULT_HEADER] == "require_field:declarant"
        or refused.headers[INJECTED_FAULT_HEADER] == "require_field:drift"
    )
    problem = refused.json()
    assert problem["code"] == "invalid_request"
    assert problem["errors"][0]["loc"] == ["body", "declarant"]
    with_it = {**birth, "declarant": {"full_name": "Nguyễn Văn A", "relationship": "father"}}
    taken = await call(civil_registry, active, "POST", "/v1/birth-registrations", json=with_it)
    assert taken.status_code == 201, taken.text
    assert INJECTED_FAULT_HEADER not in taken.headers


@pytest.mark.parametrize(
    ("provider", "fault", "operations", "why"),
    [
        ("population", {"kind": "require_field", "field": "x"}, ["get_citizen"], "no request body"),
        (
            "driver-licence",
            {"kind": "change_enum", "paths": ["classes[*].licence_class"], "mapping": {"B2": "C"}},
            ["get_licence"],
            "keeps the contract",
        ),
        (
            "population",
            {"kind": "rename_field", "renames": {"no_such_field": "x"}},
            ["get_citizen"],
            "has no field",
        ),
        (
            "population",
            {"kind": "change_type", "paths": ["phone"], "to": "array"},
            ["download_file"],
            "download_file",
        ),
    ],
)
def test_a_drift_rule_that_cannot_act_is_refused_when_the_scenario_loads(
    provider: str, fault: dict[str, Any], operations: list[str], why: str
) -> None:
    with pytest.raises((ScenarioError, ValueError)) as refused:
        one_rule(provider, fault, operations)
    assert why in str(refused.value)
