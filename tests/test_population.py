"""The population mock (CSDLQG về dân cư): lookup, verifications, old-ID mapping, errors."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from contracts.population import Citizen
from mock_services.population import citizen_record, create_app, sample_ids
from ndxp_config.settings import Settings

SEED = 2024


@pytest.fixture
def pid() -> str:
    return sample_ids(SEED, "038")[0]


async def test_lookup_returns_the_twenty_shared_fields(
    population_client: httpx.AsyncClient, pid: str
) -> None:
    response = await population_client.get(f"/v1/citizens/{pid}")
    assert response.status_code == 200
    body = response.json()
    assert len(body) == 20
    citizen = Citizen.model_validate(body)
    assert citizen.personal_id == pid
    assert citizen.permanent_address.endswith("Tỉnh Thanh Hóa")


async def test_same_seed_gives_byte_identical_responses_and_another_seed_differs(
    make_settings: Callable[..., Settings],
    client_for: Callable[[FastAPI], httpx.AsyncClient],
    pid: str,
) -> None:
    bodies = []
    for seed in (SEED, SEED, SEED + 1):
        async with client_for(create_app(make_settings(seed=seed))) as client:
            bodies.append((await client.get(f"/v1/citizens/{pid}")).content)
    assert bodies[0] == bodies[1]
    assert bodies[0] != bodies[2]


async def test_parents_and_household_head_are_citizens_with_the_same_identity(
    population_client: httpx.AsyncClient,
) -> None:
    checked = 0
    for pid in sample_ids(SEED, "044", count=20):
        record = Citizen.model_validate((await population_client.get(f"/v1/citizens/{pid}")).json())
        for parent in (record.father, record.mother):
            if parent is None:
                continue
            looked_up = (await population_client.get(f"/v1/citizens/{parent.personal_id}")).json()
            assert looked_up["full_name"] == parent.full_name
            assert looked_up["date_of_birth"] == parent.date_of_birth.isoformat()
            checked += 1
        head = await population_client.get(f"/v1/citizens/{record.household.head_personal_id}")
        assert head.json()["full_name"] == record.household.head_full_name
    assert checked >= 10


async def test_unknown_id_is_404_problem(population_client: httpx.AsyncClient) -> None:
    response = await population_client.get("/v1/citizens/038090991234")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("bad", ["abc", "12345678901", "0380900012345"])
async def test_malformed_id_is_422_invalid_request_naming_the_field(
    population_client: httpx.AsyncClient, bad: str
) -> None:
    response = await population_client.get(f"/v1/citizens/{bad}")
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid_request"
    assert problem["errors"][0]["loc"] == ["path", "personal_id"]


async def test_verify_citizen_matches_without_leaking_the_record(
    population_client: httpx.AsyncClient, pid: str
) -> None:
    record = citizen_record(SEED, pid)
    claim = {
        "personal_id": pid,
        "full_name": record.full_name.upper(),
        "date_of_birth": record.date_of_birth.isoformat(),
    }
    good = await population_client.post("/v1/citizens/verify", json=claim)
    assert good.json() == {"match": True}
    wrong_name = await population_client.post(
        "/v1/citizens/verify", json={**claim, "full_name": "Nguyễn Văn Khác"}
    )
    assert wrong_name.json() == {"match": False}
    unknown = await population_client.post(
        "/v1/citizens/verify", json={**claim, "personal_id": "038090991234"}
    )
    assert unknown.status_code == 200
    assert unknown.json() == {"match": False}


async def test_verify_household_membership(population_client: httpx.AsyncClient, pid: str) -> None:
    head = citizen_record(SEED, pid).household.head_personal_id
    member = {"personal_id": pid, "head_personal_id": head}
    assert (await population_client.post("/v1/households/verify", json=member)).json()["match"]
    stranger = {"personal_id": pid, "head_personal_id": sample_ids(SEED, "001")[0]}
    assert not (await population_client.post("/v1/households/verify", json=stranger)).json()[
        "match"
    ]


async def test_old_id_maps_to_the_citizen_and_back(
    population_client: httpx.AsyncClient, pid: str
) -> None:
    old_id = citizen_record(SEED, pid).old_id_number
    assert old_id is not None
    response = await population_client.get(f"/v1/legacy-ids/{old_id}")
    assert response.json() == {"old_id_number": old_id, "personal_id": pid}


async def test_citizens_born_after_1999_have_no_old_id() -> None:
    record = citizen_record(SEED, "079205000042")
    assert record.old_id_number is None


async def test_unparseable_body_is_a_400_problem(population_client: httpx.AsyncClient) -> None:
    response = await population_client.post(
        "/v1/citizens/verify", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code in (400, 422)
    assert response.json()["code"] == "invalid_request"


async def test_samples_endpoint_lists_existing_citizens_of_a_province(
    population_client: httpx.AsyncClient,
) -> None:
    listed = (await population_client.get("/samples", params={"province": "044"})).json()
    assert len(listed["personal_ids"]) == 5
    for pid in listed["personal_ids"]:
        assert (await population_client.get(f"/v1/citizens/{pid}")).status_code == 200
