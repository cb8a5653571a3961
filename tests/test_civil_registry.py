"""The civil-registry mock (hộ tịch): idempotent submissions, citizen checks, lifecycle, sync."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts.civil_registry import Registration, StatusChangePage
from mock_services.civil_registry import create_app, example_requests
from mock_services.civil_registry_lifecycle import NEWBORN_SERIAL_MIN, lifecycle_plan
from mock_services.people import parse_personal_id
from mock_services.population import citizen_record
from ndxp_config.settings import Settings
from tests.lifecycle_mocks import T0, FakeClock, store_of

SEED = 2024


@pytest.fixture
def app(settings: Settings, clock: FakeClock) -> FastAPI:
    return create_app(settings, clock=clock)


def birth(
    code: str = "000.00.38.H56-241230-0001", seed: int = SEED, **changes: Any
) -> dict[str, Any]:
    """A valid birth registration body: real parents (the published example), this code."""
    body = example_requests(seed)[0].model_dump(mode="json")
    return {**body, "dossier_code": code, **changes}


def death(
    code: str = "000.00.38.H56-241230-0002", seed: int = SEED, **changes: Any
) -> dict[str, Any]:
    body = example_requests(seed)[1].model_dump(mode="json")
    return {**body, "dossier_code": code, **changes}


async def submit(client: httpx.AsyncClient, i: int) -> Registration:
    """The i-th of a series of new registrations: births and deaths alternately."""
    body = birth(f"SERIES-{i:04d}") if i % 2 else death(f"SERIES-{i:04d}")
    path = "/v1/birth-registrations" if i % 2 else "/v1/death-registrations"
    response = await client.post(path, json=body)
    assert response.status_code == 201, response.text
    return Registration.model_validate(response.json())


# --- submissions ---------------------------------------------------------------------------


async def test_first_submission_is_201_received_and_a_repeat_is_200_with_the_same_registration(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    first = await client.post("/v1/birth-registrations", json=birth())
    again = await client.post("/v1/birth-registrations", json=birth())
    assert (first.status_code, again.status_code) == (201, 200)
    assert first.json() == again.json()
    assert first.json()["status"] == "received"
    assert first.json()["status_code"] == 2
    assert store_of(settings, "civil-registry").count() == 1


async def test_concurrent_repeats_create_exactly_one_registration(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    responses = await asyncio.gather(
        *(client.post("/v1/death-registrations", json=death()) for _ in range(8))
    )
    assert sorted(r.status_code for r in responses) == [200] * 7 + [201]
    assert len({r.json()["registration_id"] for r in responses}) == 1
    assert store_of(settings, "civil-registry").count(dossier_code=death()["dossier_code"]) == 1


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(
            "/v1/birth-registrations",
            {**birth(), "child": {**birth()["child"], "full_name": "Nguyễn Văn Khác"}},
            id="another-child",
        ),
        pytest.param("/v1/death-registrations", death(birth()["dossier_code"]), id="a-death"),
    ],
)
async def test_same_dossier_code_with_a_different_body_is_409_dossier_code_conflict(
    client: httpx.AsyncClient, settings: Settings, path: str, body: dict[str, Any]
) -> None:
    assert (await client.post("/v1/birth-registrations", json=birth())).status_code == 201
    response = await client.post(path, json=body)
    assert response.status_code == 409
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "dossier_code_conflict"
    assert store_of(settings, "civil-registry").count() == 1


async def test_the_same_dossier_code_in_another_province_is_another_registration(
    client: httpx.AsyncClient,
) -> None:
    here = await client.post("/v1/birth-registrations", json=birth())
    there = await client.post("/v1/birth-registrations", json=birth(province_code="001"))
    assert (here.status_code, there.status_code) == (201, 201)
    assert here.json()["registration_id"] != there.json()["registration_id"]
    assert there.json()["registration_id"].startswith("KS001")


def _with(body: dict[str, Any], role: str, **fields: str) -> dict[str, Any]:
    return {**body, role: {**body[role], **fields}}


@pytest.mark.parametrize(
    ("path", "body", "role"),
    [
        pytest.param(
            "/v1/birth-registrations",
            _with(birth(), "father", full_name="Trần Văn Khác"),
            "father",
            id="father-name",
        ),
        pytest.param(
            "/v1/birth-registrations",
            _with(birth(), "mother", date_of_birth="1991-01-01"),
            "mother",
            id="mother-date-of-birth",
        ),
        pytest.param(
            "/v1/birth-registrations",
            _with(birth(), "father", personal_id="038090991234"),
            "father",
            id="father-unknown-id",
        ),
        pytest.param(
            "/v1/birth-registrations",
            {**birth(), "father": birth()["mother"]},
            "father",
            id="father-is-a-woman",
        ),
        pytest.param(
            "/v1/death-registrations",
            _with(death(), "deceased", full_name="Lê Thị Khác"),
            "deceased",
            id="deceased-name",
        ),
    ],
)
async def test_a_person_who_is_not_that_citizen_is_422_citizen_mismatch_naming_them(
    client: httpx.AsyncClient, settings: Settings, path: str, body: dict[str, Any], role: str
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "citizen_mismatch"
    assert problem["detail"].startswith(f"{role}:")
    assert store_of(settings, "civil-registry").count() == 0


async def test_names_match_regardless_of_case_and_spacing(client: httpx.AsyncClient) -> None:
    body = birth()
    body["father"]["full_name"] = "  " + body["father"]["full_name"].upper().replace(" ", "  ")
    assert (await client.post("/v1/birth-registrations", json=body)).status_code == 201


@pytest.mark.parametrize(
    ("path", "body"),
    [
        pytest.param(
            "/v1/birth-registrations",
            {k: v for k, v in birth().items() if k not in ("father", "mother")},
            id="no-parent",
        ),
        pytest.param(
            "/v1/birth-registrations",
            {**birth(), "child": {**birth()["child"], "date_of_birth": "2025-01-02"}},
            id="born-tomorrow",
        ),
        pytest.param("/v1/birth-registrations", birth(province_code="003"), id="no-province"),
        pytest.param("/v1/death-registrations", death(date_of_death="1900-01-01"), id="too-early"),
    ],
)
async def test_impossible_submissions_are_422_invalid_request(
    client: httpx.AsyncClient, path: str, body: dict[str, Any]
) -> None:
    response = await client.post(path, json=body)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


async def test_one_parent_is_enough(client: httpx.AsyncClient) -> None:
    body = {k: v for k, v in birth().items() if k != "father"}
    assert (await client.post("/v1/birth-registrations", json=body)).status_code == 201


def test_example_parents_and_deceased_are_population_citizens() -> None:
    birth_request, death_request = example_requests(SEED)
    for ref in (birth_request.father, birth_request.mother, death_request.deceased):
        assert ref is not None
        record = citizen_record(SEED, ref.personal_id)
        assert (record.full_name, record.date_of_birth) == (ref.full_name, ref.date_of_birth)


# --- lookups -------------------------------------------------------------------------------


async def test_unknown_registration_is_404_and_a_malformed_id_is_422(
    client: httpx.AsyncClient,
) -> None:
    created = (await client.post("/v1/birth-registrations", json=birth())).json()
    other_kind = "KT" + created["registration_id"][2:]
    unknown = await client.get(f"/v1/registrations/{other_kind}")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
    malformed = await client.get("/v1/registrations/KS038")
    assert malformed.status_code == 422
    assert malformed.json()["code"] == "invalid_request"


def test_building_the_app_writes_no_file(settings: Settings, clock: FakeClock) -> None:
    create_app(settings, clock=clock).openapi()
    assert not Path(settings.state_dir).exists()


# --- lifecycle -----------------------------------------------------------------------------


async def test_lifecycle_walks_every_path_with_the_clock_to_processed_then_returned(
    client: httpx.AsyncClient, clock: FakeClock, settings: Settings
) -> None:
    registrations = [await submit(client, i) for i in range(40)]
    by_path = {lifecycle_plan(SEED, r.registration_id).path: r for r in registrations}
    assert set(by_path) == {"normal", "paused", "overdue", "rejected"}
    minute = timedelta(seconds=settings.mocks.lifecycle_minute_s)
    for path, registration in by_path.items():
        steps = lifecycle_plan(SEED, registration.registration_id).steps
        seen = []
        for step in steps:
            clock.now = T0 + step.minute * minute
            now = Registration.model_validate(
                (await client.get(f"/v1/registrations/{registration.registration_id}")).json()
            )
            assert now.status == step.status
            assert now.history[-1].at == clock.now
            seen.append((now.status, now.status_code))
            if now.status == "overdue":
                assert now.due_at == clock.now
            if now.status in ("processed", "returned"):
                assert now.processed_at is not None
                assert now.result is not None
            assert (now.returned_at is not None) == (now.status == "returned")
        if path == "rejected":
            assert seen[-1] == ("rejected", 3)
        else:
            assert seen[-2:] == [("processed", 9), ("returned", 10)]
        if path == "paused":
            assert ("paused", 5) in seen
        if path == "overdue":
            assert ("overdue", 4) in seen
    clock.now = T0 + timedelta(days=30)  # long after: nothing moves any more
    rejected = by_path["rejected"].registration_id
    final = (await client.get(f"/v1/registrations/{rejected}")).json()
    assert (final["status"], final["result"], final["processed_at"]) == ("rejected", None, None)


async def test_lifecycle_minutes_scale_with_the_setting(
    make_settings: Callable[..., Settings],
    client_for: Callable[[FastAPI], httpx.AsyncClient],
    clock: FakeClock,
) -> None:
    base = make_settings()
    settings = base.model_copy(
        update={"mocks": base.mocks.model_copy(update={"lifecycle_minute_s": 0.5})}
    )
    async with client_for(create_app(settings, clock=clock)) as client:
        created = (await client.post("/v1/birth-registrations", json=birth())).json()
        rid = created["registration_id"]
        last = lifecycle_plan(SEED, rid).steps[-1]
        clock.advance(seconds=last.minute * 0.5)
        now = (await client.get(f"/v1/registrations/{rid}")).json()
    due = datetime.fromisoformat(created["due_at"]) - datetime.fromisoformat(created["received_at"])
    assert due == timedelta(minutes=4)  # 480 simulated minutes of half a second
    assert now["status"] == last.status


async def test_a_newborn_gets_a_new_personal_id_no_citizen_has(
    client: httpx.AsyncClient, clock: FakeClock, population_client: httpx.AsyncClient
) -> None:
    children = set()
    for i in range(6):
        rid = (await client.post("/v1/birth-registrations", json=birth(f"KS-{i}"))).json()[
            "registration_id"
        ]
        clock.now = T0 + timedelta(days=2)
        result = (await client.get(f"/v1/registrations/{rid}")).json()["result"]
        if result is None:  # rejected
            continue
        child_id = result["child_personal_id"]
        parts = parse_personal_id(child_id)
        assert parts is not None
        assert (parts.province_code, parts.gender, parts.birth_year) == ("038", "male", 2024)
        assert parts.serial >= NEWBORN_SERIAL_MIN
        assert (await population_client.get(f"/v1/citizens/{child_id}")).status_code == 404
        children.add(child_id)
        clock.now = T0
    assert len(children) >= 3


# --- status changes ------------------------------------------------------------------------


async def sync_all(
    client: httpx.AsyncClient, since: str, cursor: str | None, **params: Any
) -> tuple[list[dict[str, Any]], str | None]:
    """Page until has_more is false, as a province's sync job would."""
    items: list[dict[str, Any]] = []
    while True:
        query = {"since": since, **params, **({"cursor": cursor} if cursor else {})}
        response = await client.get("/v1/status-changes", params=query)
        assert response.status_code == 200, response.text
        page = StatusChangePage.model_validate(response.json())
        assert all(item.at <= page.until for item in page.items)
        items += [item.model_dump(mode="json") for item in page.items]
        cursor = page.next_cursor or cursor
        if not page.has_more:
            return items, cursor


async def test_status_changes_sync_sees_each_transition_once_and_none_from_the_future(
    client: httpx.AsyncClient, clock: FakeClock
) -> None:
    registrations = []
    for i in range(12):  # staggered submissions, several sharing an instant (ties on `at`)
        registrations.append((await submit(client, i)).registration_id)
        clock.advance(minutes=7 * (i % 3))
    since = (T0 - timedelta(seconds=1)).isoformat()
    synced: list[dict[str, Any]] = []
    cursor = None
    for _ in range(30):  # a poll every 40 minutes, small pages
        items, cursor = await sync_all(client, since, cursor, limit=3)
        assert all(datetime.fromisoformat(item["at"]) <= clock.now for item in items)
        synced += items
        clock.advance(minutes=40)
    keys = [(i["registration_id"], i["status"], i["at"]) for i in synced]
    assert len(keys) == len(set(keys))
    expected = set()
    for rid in registrations:
        history = (await client.get(f"/v1/registrations/{rid}")).json()["history"]
        expected |= {(rid, step["status"], step["at"]) for step in history}
    clock.advance(minutes=-40)  # the last poll's now: everything up to it was synced
    assert set(keys) == expected
    assert [i["at"] for i in synced] == sorted(i["at"] for i in synced)


async def test_status_changes_exclude_since_itself_and_split_no_tie(
    client: httpx.AsyncClient,
) -> None:
    for i in range(3):  # three "received" at the same instant T0
        await submit(client, i)
    assert (await sync_all(client, T0.isoformat(), None))[0] == []
    just_before = (T0 - timedelta(microseconds=1)).isoformat()
    one_by_one, _ = await sync_all(client, just_before, None, limit=1)
    assert [i["status"] for i in one_by_one] == ["received"] * 3
    assert len({i["registration_id"] for i in one_by_one}) == 3


async def test_status_changes_filter_by_province(client: httpx.AsyncClient) -> None:
    await client.post("/v1/birth-registrations", json=birth())
    await client.post("/v1/birth-registrations", json=birth(province_code="001"))
    since = (T0 - timedelta(minutes=1)).isoformat()
    items, _ = await sync_all(client, since, None, province="001")
    assert [i["province_code"] for i in items] == ["001"]


@pytest.mark.parametrize(
    "params",
    [
        pytest.param({"since": "2024-12-30T08:00:00"}, id="naive-since"),
        pytest.param({"since": "2024-12-30T08:00:00Z", "province": "003"}, id="no-province"),
        pytest.param({"since": "2024-12-30T08:00:00Z", "cursor": "bm90LWEtY3Vyc29y"}, id="cursor"),
        pytest.param({"since": "2024-12-30T08:00:00Z", "limit": 0}, id="limit"),
    ],
)
async def test_bad_status_change_queries_are_422_invalid_request(
    client: httpx.AsyncClient, params: dict[str, Any]
) -> None:
    response = await client.get("/v1/status-changes", params=params)
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_request"


# --- determinism ---------------------------------------------------------------------------


async def test_same_seed_and_clock_give_byte_identical_responses_and_another_seed_differs(
    make_settings: Callable[..., Settings],
    client_for: Callable[[FastAPI], httpx.AsyncClient],
    tmp_path: Path,
) -> None:
    transcripts = []
    for n, seed in enumerate((SEED, SEED, SEED + 1)):
        settings = make_settings(seed=seed).model_copy(update={"state_dir": tmp_path / str(n)})
        clock = FakeClock()
        async with client_for(create_app(settings, clock=clock)) as client:
            first = await client.post("/v1/birth-registrations", json=birth(seed=seed))
            bodies = [first.content]
            second = await client.post("/v1/death-registrations", json=death(seed=seed))
            bodies.append(second.content)
            clock.advance(hours=5)
            rid = first.json()["registration_id"]
            bodies.append((await client.get(f"/v1/registrations/{rid}")).content)
            query = {"since": "2024-12-30T00:00:00Z"}
            bodies.append((await client.get("/v1/status-changes", params=query)).content)
        transcripts.append(bodies)
    assert transcripts[0] == transcripts[1]
    assert transcripts[0] != transcripts[2]
