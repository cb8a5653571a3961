"""The fault engine, observed from the caller's side: status, code, timing, missing fields.

Every mock runs in-process (``httpx.ASGITransport``) with the engine installed; time comes
from a fake clock and waits go to a fake ``sleep`` that records them, so no test sleeps.
Resets and hangs on real sockets are in ``tests/integration/test_faults_network.py``.
"""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError

from contracts.civil_registry import Registration, StatusChangePage
from contracts.common import PROBLEM_MEDIA_TYPE
from contracts.driver_licence import RenewalDossier, RenewalDossierPage
from contracts.headers import INJECTED_FAULT_HEADER
from contracts.population import Citizen
from mock_services import business_registry, civil_registry, driver_licence, population
from mock_services.civil_registry_lifecycle import lifecycle_plan
from mock_services.dossiers import VIETNAM_TZ
from mock_services.fault_bodies import Staleness, check_path, stale_record
from mock_services.fault_network import InjectedConnectionReset
from mock_services.fault_specs import Latency
from mock_services.faults import FaultEngine, install_fault_engine
from mock_services.scenarios import Scenario, parse_scenario
from ndxp_config.settings import DEV_ADMIN_TOKEN, Settings

SEED = 2024
MONDAY_0900 = datetime(2024, 6, 3, 9, 0, tzinfo=VIETNAM_TZ)
# After the civil-registry example's birth (26/12/2024): the registry refuses future births.
CIVIL_T0 = datetime(2024, 12, 30, 9, 0, tzinfo=VIETNAM_TZ)
ADMIN = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
CITIZEN_ID = population.sample_ids(SEED, "038", 1)[0]
CITIZEN = f"/v1/citizens/{CITIZEN_ID}"


class FakeTime:
    """The engine's clock and sleep: a sleep records its duration and moves the clock."""

    def __init__(self, now: datetime = MONDAY_0900) -> None:
        self.now = now
        self.sleeps: list[float] = []

    def clock(self) -> datetime:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


def scenario(*rules: dict[str, Any], seed: int = SEED) -> Scenario:
    """A scenario of these rules, validated exactly as a file would be."""
    return parse_scenario(
        {
            "id": "test",
            "title": "Test",
            "description": "Rules under test.",
            "source": ["tests"],
            "seed": seed,
            "rules": list(rules),
        }
    )


def rule(rule_id: str, provider: str, fault: dict[str, Any], **extra: Any) -> dict[str, Any]:
    match = {"provider": provider, **extra.pop("match", {})}
    return {"id": rule_id, "match": match, "fault": fault, **extra}


MockFactory = Callable[..., FastAPI]


@pytest.fixture
def fake_time() -> FakeTime:
    return FakeTime()


@pytest.fixture
def mock_with(
    settings: Settings, fake_time: FakeTime
) -> Callable[..., tuple[FastAPI, FaultEngine]]:
    """``mock_with(module, scenario)``: the mock's app with an engine on the fake time."""

    def make(module: Any, active: Scenario | None, **kwargs: Any) -> tuple[FastAPI, FaultEngine]:
        app: FastAPI = module.create_app(settings, **kwargs)
        engine = FaultEngine(
            app.state.provider, active, clock=fake_time.clock, sleep=fake_time.sleep
        )
        install_fault_engine(app, engine)
        return app, engine

    return make


@pytest.fixture
async def call(
    client_for: Callable[[FastAPI], httpx.AsyncClient],
) -> AsyncIterator[Callable[..., Any]]:
    """``await call(app, "GET", path, **kwargs)`` through an in-process client."""
    clients: dict[int, httpx.AsyncClient] = {}

    async def send(app: FastAPI, method: str, path: str, **kwargs: Any) -> httpx.Response:
        client = clients.setdefault(id(app), client_for(app))
        return await client.request(method, path, **kwargs)

    yield send
    for client in clients.values():
        await client.aclose()


def injected(response: httpx.Response) -> str | None:
    return response.headers.get(INJECTED_FAULT_HEADER)


# -- no scenario, no change -------------------------------------------------------------


async def test_without_rules_the_mock_answers_byte_identically(
    settings: Settings, mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    plain = population.create_app(settings)
    engined, _ = mock_with(population, scenario())
    first, second = await call(plain, "GET", CITIZEN), await call(engined, "GET", CITIZEN)
    assert first.content == second.content
    assert injected(second) is None


async def test_a_rule_of_another_provider_or_operation_does_not_touch_this_one(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    active = scenario(
        rule("elsewhere", "business-registry", {"kind": "http_error"}),
        rule(
            "other-op",
            "population",
            {"kind": "http_error"},
            match={"operations": ["resolve_legacy_id"]},
        ),
    )
    app, _ = mock_with(population, active)
    response = await call(app, "GET", CITIZEN)
    assert response.status_code == 200
    assert injected(response) is None


# -- latency and hang ---------------------------------------------------------------------


async def test_fixed_latency_waits_exactly_and_names_the_rule(
    mock_with: Callable[..., Any], call: Callable[..., Any], fake_time: FakeTime
) -> None:
    app, _ = mock_with(
        population, scenario(rule("slow", "population", {"kind": "latency", "ms": 250}))
    )
    response = await call(app, "GET", CITIZEN)
    assert response.status_code == 200
    assert fake_time.sleeps == [0.25]
    assert injected(response) == "latency:slow"


async def test_uniform_latency_stays_within_its_bounds(
    mock_with: Callable[..., Any], call: Callable[..., Any], fake_time: FakeTime
) -> None:
    fault = {"kind": "latency", "distribution": "uniform", "min_ms": 100, "max_ms": 300}
    app, _ = mock_with(population, scenario(rule("jitter", "population", fault)))
    for _ in range(20):
        await call(app, "GET", CITIZEN)
    assert len(fake_time.sleeps) == 20
    assert all(0.1 <= s <= 0.3 for s in fake_time.sleeps)
    assert len(set(fake_time.sleeps)) > 1


def test_lognormal_latency_has_the_median_and_95th_percentile_it_was_given() -> None:
    import random

    latency = Latency(kind="latency", distribution="lognormal", p50_ms=3000, p95_ms=32000)
    rng = random.Random(1)
    samples = sorted(latency.sample_s(rng) for _ in range(4000))
    assert statistics.median(samples) == pytest.approx(3.0, rel=0.1)
    assert samples[int(0.95 * len(samples))] == pytest.approx(32.0, rel=0.15)
    assert sum(s > 30 for s in samples) / len(samples) > 0.04  # the tail past the timeout


def test_latency_cap_bounds_every_draw() -> None:
    import random

    latency = Latency(
        kind="latency", distribution="lognormal", p50_ms=3000, p95_ms=32000, cap_ms=40000
    )
    rng = random.Random(2)
    assert max(latency.sample_s(rng) for _ in range(2000)) == 40.0


async def test_hang_stays_silent_past_the_gateway_timeout_then_answers(
    mock_with: Callable[..., Any], call: Callable[..., Any], fake_time: FakeTime
) -> None:
    app, _ = mock_with(population, scenario(rule("stuck", "population", {"kind": "hang"})))
    response = await call(app, "GET", CITIZEN)
    assert fake_time.sleeps == [120.0]  # the gateway's read timeout is 30 s
    assert response.status_code == 200
    assert injected(response) == "hang:stuck"


async def test_time_scale_shrinks_every_wait(
    settings: Settings, fake_time: FakeTime, call: Callable[..., Any]
) -> None:
    app = population.create_app(settings)
    active = scenario(rule("slow", "population", {"kind": "latency", "ms": 30000}))
    install_fault_engine(
        app, FaultEngine("population", active, sleep=fake_time.sleep, time_scale=0.001)
    )
    await call(app, "GET", CITIZEN)
    assert fake_time.sleeps == [pytest.approx(0.03)]


# -- errors -------------------------------------------------------------------------------


async def test_http_error_answers_a_problem_with_its_status_and_code(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    fault = {"kind": "http_error", "status": 502, "code": "bad_gateway"}
    app, _ = mock_with(population, scenario(rule("broken", "population", fault)))
    response = await call(app, "GET", CITIZEN)
    assert response.status_code == 502
    assert response.headers["content-type"] == PROBLEM_MEDIA_TYPE
    assert response.json()["code"] == "bad_gateway"
    assert injected(response) == "http_error:broken"


async def test_http_error_skips_the_handler_so_nothing_is_registered(
    mock_with: Callable[..., Any], call: Callable[..., Any], fake_time: FakeTime
) -> None:
    fake_time.now = CIVIL_T0
    app, engine = mock_with(
        civil_registry,
        scenario(rule("down", "civil-registry", {"kind": "http_error"})),
        clock=fake_time.clock,
    )
    body = civil_registry.example_requests(SEED)[0].model_dump(mode="json")
    assert (await call(app, "POST", "/v1/birth-registrations", json=body)).status_code == 500
    engine.set_scenario(None)
    created = await call(app, "POST", "/v1/birth-registrations", json=body)
    assert created.status_code == 201  # the first attempt left no registration behind


async def test_unavailable_answers_503_with_retry_after(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    fault = {"kind": "unavailable", "retry_after_s": 45}
    app, _ = mock_with(population, scenario(rule("off", "population", fault)))
    response = await call(app, "GET", CITIZEN)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "45"
    assert response.json()["code"] == "service_unavailable"


@pytest.mark.parametrize("phase", ["before_response", "during_body"])
async def test_reset_in_process_surfaces_as_connection_reset(
    phase: str, mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    app, engine = mock_with(
        population, scenario(rule("cut", "population", {"kind": "reset", "phase": phase}))
    )
    with pytest.raises(InjectedConnectionReset):
        await call(app, "GET", CITIZEN)
    assert engine.describe()["rules"][0]["injected"] == 1


# -- maintenance and overload -------------------------------------------------------------

WEEKDAY_MORNINGS = {
    "kind": "maintenance",
    "windows": [{"days": ["mon", "tue", "wed", "thu", "fri"], "start": "08:00", "end": "11:30"}],
}


@pytest.mark.parametrize(
    ("now", "status", "retry_after"),
    [
        pytest.param(MONDAY_0900, 503, "9000", id="monday-09:00-in-window"),
        pytest.param(
            MONDAY_0900.replace(hour=11, minute=29, second=30), 503, "30", id="last-minute"
        ),
        pytest.param(MONDAY_0900.replace(hour=11, minute=30), 200, None, id="window-end-excluded"),
        pytest.param(MONDAY_0900 + timedelta(days=5), 200, None, id="saturday"),
    ],
)
async def test_maintenance_answers_503_inside_its_local_window_until_its_end(
    now: datetime,
    status: int,
    retry_after: str | None,
    mock_with: Callable[..., Any],
    call: Callable[..., Any],
    fake_time: FakeTime,
) -> None:
    fake_time.now = now
    app, _ = mock_with(population, scenario(rule("upgrade", "population", WEEKDAY_MORNINGS)))
    response = await call(app, "GET", CITIZEN)
    assert response.status_code == status
    assert response.headers.get("retry-after") == retry_after
    if status == 503:
        assert response.json()["code"] == "provider_maintenance"
        assert "11:30" in response.json()["detail"]


async def test_maintenance_window_is_read_in_vietnam_time_whatever_the_clock_offset(
    mock_with: Callable[..., Any], call: Callable[..., Any], fake_time: FakeTime
) -> None:
    from datetime import UTC

    fake_time.now = datetime(2024, 6, 3, 2, 0, tzinfo=UTC)  # 09:00 in Hà Nội
    app, _ = mock_with(population, scenario(rule("upgrade", "population", WEEKDAY_MORNINGS)))
    response = await call(app, "GET", CITIZEN)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "9000"


class Gate:
    """A sleep that holds every caller until the test opens the gate."""

    def __init__(self) -> None:
        self.opened = asyncio.Event()

    async def sleep(self, seconds: float) -> None:
        await self.opened.wait()


async def until(condition: Callable[[], bool]) -> None:
    """Let the other tasks run until ``condition`` holds (no time passes: loop turns only)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


def busy(engine: FaultEngine) -> tuple[int, int]:
    (described,) = engine.describe()["rules"]
    return described["in_service"], described["queued"]


async def test_overload_serves_the_cap_queues_the_next_and_sheds_the_rest(
    settings: Settings, call: Callable[..., Any]
) -> None:
    gate = Gate()
    fault = {"kind": "overload", "max_concurrent": 1, "max_queue": 1, "service_time_ms": 100}
    app = population.create_app(settings)
    engine = FaultEngine(
        "population", scenario(rule("busy", "population", fault)), sleep=gate.sleep
    )
    install_fault_engine(app, engine)
    first = asyncio.create_task(call(app, "GET", CITIZEN))
    await until(lambda: busy(engine) == (1, 0))  # the first holds the only slot
    second = asyncio.create_task(call(app, "GET", CITIZEN))
    await until(lambda: busy(engine) == (1, 1))  # the second waits in the queue
    shed = await call(app, "GET", CITIZEN)  # the queue is full: shed at once
    assert shed.status_code == 503
    assert shed.json()["code"] == "provider_overloaded"
    assert shed.headers["retry-after"] == "5"
    assert injected(shed) == "overload:busy"
    gate.opened.set()
    served, queued = await first, await second
    assert (served.status_code, queued.status_code) == (200, 200)
    assert injected(served) is None  # admitted at once: no fault
    assert injected(queued) == "overload:busy"  # it waited in the queue
    assert busy(engine) == (0, 0)


async def test_overload_sheds_a_request_that_waits_longer_than_the_queue_timeout(
    settings: Settings, call: Callable[..., Any]
) -> None:
    gate = Gate()
    fault = {
        "kind": "overload",
        "max_concurrent": 1,
        "max_queue": 5,
        "queue_timeout_s": 0.05,
        "service_time_ms": 100,
    }
    app = population.create_app(settings)
    engine = FaultEngine(
        "population", scenario(rule("busy", "population", fault)), sleep=gate.sleep
    )
    install_fault_engine(app, engine)
    first = asyncio.create_task(call(app, "GET", CITIZEN))
    await until(lambda: busy(engine) == (1, 0))
    timed_out = await call(app, "GET", CITIZEN)  # 50 ms in the queue, then shed
    assert timed_out.status_code == 503
    assert timed_out.json()["code"] == "provider_overloaded"
    assert busy(engine) == (1, 0)  # it left the queue
    gate.opened.set()
    assert (await first).status_code == 200


# -- body faults --------------------------------------------------------------------------

BR_EXAMPLES = business_registry.examples(SEED)
DL_EXAMPLES = driver_licence.examples(SEED)


def _url(path: str, params: dict[str, str]) -> str:
    for key, value in params.items():
        path = path.replace("{" + key + "}", value)
    return path


async def test_empty_body_keeps_the_status_and_sends_no_bytes(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    example = BR_EXAMPLES["get_enterprise_dossier"]
    active = scenario(
        rule(
            "blank",
            "business-registry",
            {"kind": "empty_body"},
            match={"operations": ["get_enterprise_dossier"]},
        )
    )
    app, _ = mock_with(business_registry, active)
    response = await call(
        app, "GET", f"/v1/enterprise-dossiers/{example.path_params['dossier_id']}"
    )
    assert response.status_code == 200
    assert response.content == b""
    assert injected(response) == "empty_body:blank"


async def test_an_empty_body_leaves_nothing_for_other_body_faults_to_claim(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    dossier_id = BR_EXAMPLES["get_enterprise_dossier"].path_params["dossier_id"]
    detail = {"operations": ["get_enterprise_dossier"]}
    active = scenario(
        rule(
            "thin", "business-registry", {"kind": "drop_fields", "fields": ["end_at"]}, match=detail
        ),
        rule("blank", "business-registry", {"kind": "empty_body"}, match=detail),
    )
    app, engine = mock_with(business_registry, active)
    response = await call(app, "GET", f"/v1/enterprise-dossiers/{dossier_id}")
    assert response.content == b""
    assert injected(response) == "empty_body:blank"
    assert [r["injected"] for r in engine.describe()["rules"]] == [0, 1]


async def test_empty_lists_inside_a_dossier_leave_it_without_components_and_results(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    dossier_id = BR_EXAMPLES["get_enterprise_dossier"].path_params["dossier_id"]
    fault = {"kind": "empty_list", "paths": ["components", "results"]}
    active = scenario(
        rule("bare", "business-registry", fault, match={"operations": ["get_enterprise_dossier"]})
    )
    app, _ = mock_with(business_registry, active)
    body = (await call(app, "GET", f"/v1/enterprise-dossiers/{dossier_id}")).json()
    assert (body["components"], body["results"]) == ([], [])
    assert body["dossier_id"] == dossier_id


async def test_empty_list_empties_the_page_and_its_total(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    example = BR_EXAMPLES["list_enterprise_dossiers"]
    active = scenario(
        rule(
            "nothing",
            "business-registry",
            {"kind": "empty_list"},
            match={"operations": ["list_enterprise_dossiers"], "provinces": ["044"]},
        )
    )
    app, _ = mock_with(business_registry, active)
    quang_binh = {"X-NDXP-Province": "044"}
    emptied = await call(
        app, "GET", "/v1/enterprise-dossiers", params=example.query, headers=quang_binh
    )
    other = await call(
        app,
        "GET",
        "/v1/enterprise-dossiers",
        params=example.query,
        headers={"X-NDXP-Province": "038"},
    )
    assert (emptied.json()["items"], emptied.json()["total"]) == ([], 0)
    assert injected(emptied) == "empty_list:nothing"
    assert other.json()["items"]
    assert injected(other) is None


async def test_dropped_fields_are_missing_from_every_item_and_break_the_contract(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    example = DL_EXAMPLES["list_renewal_dossiers"]
    fields = ["items[*].phone", "items[*].result_file_id"]
    active = scenario(
        rule(
            "no-phone",
            "driver-licence",
            {"kind": "drop_fields", "fields": fields},
            match={"operations": ["list_renewal_dossiers"]},
        )
    )
    app, _ = mock_with(driver_licence, active)
    response = await call(app, "GET", "/v1/renewal-dossiers", params=example.query)
    items = response.json()["items"]
    assert items
    assert all("phone" not in i and "result_file_id" not in i for i in items)
    assert all("holder" in i for i in items)
    assert injected(response) == "drop_fields:no-phone"
    with pytest.raises(ValidationError) as broken:
        RenewalDossierPage.model_validate(response.json())
    missing = {error["loc"][-1] for error in broken.value.errors() if error["type"] == "missing"}
    assert missing == {"phone", "result_file_id"}


async def test_nested_fields_are_dropped_by_path(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    fields = ["phone", "id_card_issue_date", "father.date_of_birth", "mother.date_of_birth"]
    active = scenario(
        rule(
            "thin",
            "population",
            {"kind": "drop_fields", "fields": fields},
            match={"operations": ["get_citizen"]},
        )
    )
    app, _ = mock_with(population, active)
    citizen_id = next(
        pid
        for pid in population.sample_ids(SEED, "038", 20)
        if population.citizen_record(SEED, pid).father is not None
    )
    body = (await call(app, "GET", f"/v1/citizens/{citizen_id}")).json()
    assert not {"phone", "id_card_issue_date"} & body.keys()
    assert set(body["father"]) == {"personal_id", "full_name"}
    assert body["date_of_birth"]  # the citizen's own date of birth stays
    with pytest.raises(ValidationError):
        Citizen.model_validate(body)


async def test_body_faults_leave_error_responses_alone(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    active = scenario(
        rule(
            "thin",
            "population",
            {"kind": "drop_fields", "fields": ["phone"]},
            match={"operations": ["get_citizen"]},
        )
    )
    app, engine = mock_with(population, active)
    unknown = await call(app, "GET", "/v1/citizens/038000999999")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "not_found"
    assert injected(unknown) is None
    assert engine.describe()["rules"][0]["injected"] == 0


async def test_dangling_file_is_listed_in_the_dossier_but_its_download_404s(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    active = scenario(
        rule(
            "gone",
            "business-registry",
            {"kind": "dangling_file"},
            match={"operations": ["download_file"]},
        )
    )
    app, _ = mock_with(business_registry, active)
    dossier_id = BR_EXAMPLES["get_enterprise_dossier"].path_params["dossier_id"]
    dossier = (await call(app, "GET", f"/v1/enterprise-dossiers/{dossier_id}")).json()
    file_id = dossier["results"][0]["file_id"]
    download = await call(app, "GET", f"/v1/files/{file_id}")
    assert download.status_code == 404
    assert download.json()["code"] == "not_found"
    assert injected(download) == "dangling_file:gone"


async def test_dangling_files_are_chosen_per_file_id_so_retries_agree(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    active = scenario(
        rule(
            "some-gone",
            "business-registry",
            {"kind": "dangling_file"},
            match={"operations": ["download_file"]},
            probability=0.5,
        )
    )
    app, _ = mock_with(business_registry, active)
    page = BR_EXAMPLES["list_enterprise_dossiers"].response
    assert page is not None
    file_ids = []
    for item in page.items:  # type: ignore[attr-defined]
        detail = business_registry.dossier_detail(SEED, "enterprise", item.dossier_id)
        file_ids += [f.file_id for f in detail.components + detail.results]
    first = [(await call(app, "GET", f"/v1/files/{f}")).status_code for f in file_ids]
    again = [(await call(app, "GET", f"/v1/files/{f}")).status_code for f in reversed(file_ids)]
    assert first == list(reversed(again))
    assert set(first) == {200, 404}


# -- stale status (civil registry) ---------------------------------------------------------


def _registration(*statuses: str) -> dict[str, Any]:
    codes = {"received": 2, "processing": 4, "paused": 5, "rejected": 3, "overdue": 4,
             "processed": 9, "returned": 10}  # fmt: skip
    at = [f"2024-06-03T{8 + n:02d}:00:00+07:00" for n in range(len(statuses))]
    history = [
        {"status": s, "status_code": codes[s], "at": t, "note": None}
        for s, t in zip(statuses, at, strict=True)
    ]
    processed = next((t for s, t in zip(statuses, at, strict=True) if s == "processed"), None)
    returned = next((t for s, t in zip(statuses, at, strict=True) if s == "returned"), None)
    return {
        "registration_id": "KS0380000000001",
        "kind": "birth",
        "province_code": "038",
        "dossier_code": "DOSSIER-1",
        "status": statuses[-1],
        "status_code": codes[statuses[-1]],
        "received_at": at[0],
        "due_at": "2024-06-03T16:00:00+07:00",
        "status_changed_at": at[-1],
        "processed_at": processed,
        "returned_at": returned,
        "result": {"certificate_number": "1/2024", "child_personal_id": None}
        if processed
        else None,
        "history": history,
    }


@pytest.mark.parametrize(
    ("lifecycle", "hidden", "frozen_at", "reported"),
    [
        pytest.param(
            ("received", "processing", "rejected"),
            ("paused", "rejected", "overdue"), None,
            ("received", "processing"), id="rejected-looks-processing-forever",
        ),
        pytest.param(
            ("received", "processing", "paused", "processing", "processed", "returned"),
            ("paused", "rejected", "overdue"), None,
            ("received", "processing", "processed", "returned"), id="pause-disappears",
        ),
        pytest.param(
            ("received", "processing", "overdue", "processed"),
            ("paused", "rejected", "overdue"), None,
            ("received", "processing", "processed"), id="overdue-disappears",
        ),
        pytest.param(
            ("received", "processing", "processed", "returned"),
            (), "received",
            ("received",), id="frozen-at-received",
        ),
        pytest.param(
            ("received", "processing", "paused", "processing", "processed"),
            ("paused",), "processing",
            ("received", "processing"), id="frozen-at-processing",
        ),
    ],
)  # fmt: skip
def test_stale_registration_reports_only_what_the_province_would_see(
    lifecycle: tuple[str, ...],
    hidden: tuple[str, ...],
    frozen_at: str | None,
    reported: tuple[str, ...],
) -> None:
    body = _registration(*lifecycle)
    assert stale_record(body, Staleness(frozenset(hidden), frozen_at, lambda _: True))
    assert tuple(t["status"] for t in body["history"]) == reported
    assert body["status"] == reported[-1]
    assert (body["processed_at"] is None) == ("processed" not in reported)
    assert (body["result"] is None) == ("processed" not in reported)
    Registration.model_validate(body)  # still a valid registration: the staleness is silent


def test_a_registration_the_rule_does_not_concern_is_left_alone() -> None:
    body = _registration("received", "processing", "rejected")
    untouched = dict(body)
    staleness = Staleness(frozenset({"rejected"}), None, lambda _: False)
    assert not stale_record(body, staleness)
    assert body == untouched


async def _registrations(
    app: FastAPI, call: Callable[..., Any], count: int
) -> list[dict[str, Any]]:
    birth = civil_registry.example_requests(SEED)[0].model_dump(mode="json")
    created = []
    for n in range(count):
        body = {**birth, "dossier_code": f"STALE-{n:04d}"}
        response = await call(app, "POST", "/v1/birth-registrations", json=body)
        created.append(response.json())
    return created


async def test_hidden_statuses_never_reach_the_province_through_lookups_or_the_feed(
    mock_with: Callable[..., Any], call: Callable[..., Any], fake_time: FakeTime
) -> None:
    hidden = ["paused", "rejected", "overdue"]
    active = scenario(
        rule(
            "unsynced",
            "civil-registry",
            {"kind": "stale_status", "hidden_statuses": hidden},
            match={"operations": ["get_registration", "list_status_changes"]},
        )
    )
    fake_time.now = CIVIL_T0
    app, _ = mock_with(civil_registry, active, clock=fake_time.clock)
    since = fake_time.now - timedelta(minutes=1)
    created = await _registrations(app, call, 12)
    paths = {lifecycle_plan(SEED, r["registration_id"]).path for r in created}
    assert paths & {"paused", "rejected", "overdue"}  # else the test proves nothing
    fake_time.now += timedelta(days=3)  # every lifecycle has ended
    for registration in created:
        seen = await call(app, "GET", f"/v1/registrations/{registration['registration_id']}")
        statuses = {t["status"] for t in seen.json()["history"]}
        assert not statuses & set(hidden)
    feed = await call(
        app, "GET", "/v1/status-changes", params={"since": since.isoformat(), "limit": 1000}
    )
    page = StatusChangePage.model_validate(feed.json())
    assert page.items
    assert not {item.status for item in page.items} & set(hidden)
    assert injected(feed) == "stale_status:unsynced"


async def test_a_frozen_registration_stays_received_whatever_happens_to_it(
    mock_with: Callable[..., Any], call: Callable[..., Any], fake_time: FakeTime
) -> None:
    active = scenario(
        rule(
            "stuck",
            "civil-registry",
            {"kind": "stale_status", "frozen_at": "received"},
            match={"operations": ["get_registration", "list_status_changes"]},
        )
    )
    fake_time.now = CIVIL_T0
    app, _ = mock_with(civil_registry, active, clock=fake_time.clock)
    since = fake_time.now - timedelta(minutes=1)
    (registration,) = await _registrations(app, call, 1)
    fake_time.now += timedelta(days=3)
    seen = Registration.model_validate(
        (await call(app, "GET", f"/v1/registrations/{registration['registration_id']}")).json()
    )
    assert (seen.status, seen.status_code, seen.processed_at, seen.result) == (
        "received",
        2,
        None,
        None,
    )
    feed = await call(app, "GET", "/v1/status-changes", params={"since": since.isoformat()})
    assert [item["status"] for item in feed.json()["items"]] == ["received"]


# -- wrong values (row 72) ------------------------------------------------------------------

WRONG = {"marital_status": "widowed", "spouse": None, "religion": None, "blood_type": None}


async def test_wrong_values_keep_the_contract_and_stay_wrong_for_the_same_record(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    active = scenario(
        rule(
            "da-nang",
            "population",
            {"kind": "wrong_value", "values": WRONG},
            match={"operations": ["get_citizen"]},
            probability=0.5,
        )
    )
    healthy, _ = mock_with(population, None)
    app, _ = mock_with(population, active)
    ids = population.sample_ids(SEED, "048", 12)
    wrong = 0
    for personal_id in ids:
        truth = (await call(healthy, "GET", f"/v1/citizens/{personal_id}")).json()
        first = await call(app, "GET", f"/v1/citizens/{personal_id}")
        again = await call(app, "GET", f"/v1/citizens/{personal_id}")
        assert first.json() == again.json()  # per record: a retry does not fix it
        Citizen.model_validate(first.json())  # valid: no contract check can catch it
        if injected(first) == "wrong_value:da-nang":
            wrong += 1
            assert {k: first.json()[k] for k in WRONG} == WRONG
            assert first.json() != truth
        else:
            assert first.json() == truth
    assert 0 < wrong < len(ids)


# -- stale status (renewal and business dossiers: rows 12–13) -------------------------------

UNSYNCED = ["paused", "rejected", "overdue"]


async def test_renewal_dossiers_never_show_paused_rejected_or_overdue(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    active = scenario(
        rule(
            "yen-bai",
            "driver-licence",
            {"kind": "stale_status", "hidden_statuses": UNSYNCED},
            match={"operations": ["list_renewal_dossiers", "get_renewal_dossier"]},
        )
    )
    query = {"from": "2024-06-02T17:00:00Z", "to": "2024-06-07T17:00:00Z", "size": "100"}
    healthy, _ = mock_with(driver_licence, None)
    truth = RenewalDossierPage.model_validate(
        (await call(healthy, "GET", "/v1/renewal-dossiers", params=query)).json()
    )
    assert {t.status for d in truth.items for t in d.history} & set(UNSYNCED)  # else no proof
    app, _ = mock_with(driver_licence, active)
    response = await call(app, "GET", "/v1/renewal-dossiers", params=query)
    seen = RenewalDossierPage.model_validate(response.json())  # still the contract
    assert injected(response) == "stale_status:yen-bai"
    assert not {t.status for d in seen.items for t in d.history} & set(UNSYNCED)
    rejected = next(d for d in truth.items if d.status == "rejected")
    detail = await call(app, "GET", f"/v1/renewal-dossiers/{rejected.dossier_id}")
    assert RenewalDossier.model_validate(detail.json()).status == "processing"


async def test_a_frozen_business_dossier_stays_received(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    dossier_id = BR_EXAMPLES["get_enterprise_dossier"].path_params["dossier_id"]
    active = scenario(
        rule(
            "stuck",
            "business-registry",
            {"kind": "stale_status", "frozen_at": "received"},
            match={"operations": ["get_enterprise_dossier"]},
        )
    )
    app, _ = mock_with(business_registry, active)
    body = (await call(app, "GET", f"/v1/enterprise-dossiers/{dossier_id}")).json()
    assert (body["status"], [t["status"] for t in body["history"]]) == ("received", ["received"])


# -- matching -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("province", "consumer", "hour", "fires"),
    [
        pytest.param("044", "onestop-quang-binh", 9, True, id="all-hold"),
        pytest.param("038", "onestop-quang-binh", 9, False, id="other-province"),
        pytest.param("044", "onestop-other", 9, False, id="other-consumer"),
        pytest.param("044", "onestop-quang-binh", 13, False, id="outside-hours"),
        pytest.param(None, None, 9, False, id="no-gateway-headers"),
    ],
)
async def test_a_rule_fires_only_when_province_consumer_and_time_all_match(
    province: str | None,
    consumer: str | None,
    hour: int,
    fires: bool,
    mock_with: Callable[..., Any],
    call: Callable[..., Any],
    fake_time: FakeTime,
) -> None:
    fake_time.now = MONDAY_0900.replace(hour=hour)
    headers = {"X-NDXP-Province": province, "X-NDXP-Consumer": consumer} if province else {}
    match = {
        "provinces": ["044"],
        "consumers": ["onestop-quang-binh"],
        "during": [{"start": "08:00", "end": "12:00"}],
    }
    app, _ = mock_with(
        population, scenario(rule("picky", "population", {"kind": "http_error"}, match=match))
    )
    response = await call(app, "GET", CITIZEN, headers=headers)
    assert (response.status_code == 500) is fires


async def test_latency_and_a_body_fault_combine_and_both_are_named(
    mock_with: Callable[..., Any], call: Callable[..., Any], fake_time: FakeTime
) -> None:
    active = scenario(
        rule("slow", "population", {"kind": "latency", "ms": 100}),
        rule(
            "thin",
            "population",
            {"kind": "drop_fields", "fields": ["phone"]},
            match={"operations": ["get_citizen"]},
        ),
    )
    app, _ = mock_with(population, active)
    response = await call(app, "GET", CITIZEN)
    assert injected(response) == "latency:slow, drop_fields:thin"
    assert "phone" not in response.json()
    assert fake_time.sleeps == [0.1]


# -- determinism --------------------------------------------------------------------------


def _flaky(seed: int, *extra: dict[str, Any]) -> Scenario:
    return scenario(
        *extra,
        rule("flaky", "population", {"kind": "http_error"}, probability=0.5),
        rule(
            "jitter",
            "population",
            {"kind": "latency", "distribution": "uniform", "min_ms": 0, "max_ms": 1000},
            probability=0.5,
        ),
        seed=seed,
    )


async def _sequence(
    mock_with: Callable[..., Any], call: Callable[..., Any], active: Scenario, n: int = 40
) -> list[tuple[int, str | None]]:
    app, _ = mock_with(population, active)
    return [
        (r.status_code, injected(r)) for r in [await call(app, "GET", CITIZEN) for _ in range(n)]
    ]


async def test_the_same_seed_and_requests_give_the_same_faults_and_another_seed_does_not(
    mock_with: Callable[..., Any], call: Callable[..., Any], fake_time: FakeTime
) -> None:
    first = await _sequence(mock_with, call, _flaky(7))
    first_sleeps, fake_time.sleeps = fake_time.sleeps, []
    again = await _sequence(mock_with, call, _flaky(7))
    assert again == first
    assert fake_time.sleeps == first_sleeps
    assert {status for status, _ in first} == {200, 500}
    assert await _sequence(mock_with, call, _flaky(8)) != first


async def test_each_rule_draws_from_its_own_generator(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    alone = await _sequence(mock_with, call, _flaky(7))
    extra = rule("other", "population", {"kind": "latency", "ms": 1}, probability=0.5)
    with_another = await _sequence(mock_with, call, _flaky(7, extra))
    flaky = [status for status, _ in alone]
    assert [status for status, _ in with_another] == flaky


async def test_switching_scenario_restarts_the_sequence(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    app, engine = mock_with(population, _flaky(7))
    first = [(await call(app, "GET", CITIZEN)).status_code for _ in range(20)]
    engine.set_scenario(_flaky(7))
    assert [(await call(app, "GET", CITIZEN)).status_code for _ in range(20)] == first


# -- admin routes -------------------------------------------------------------------------


async def test_admin_routes_need_the_admin_token(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    app, _ = mock_with(population, None)
    for method in ("GET", "PUT", "DELETE"):
        refused = await call(
            app, method, "/_faults/scenario", headers={"Authorization": "Bearer no"}
        )
        assert refused.status_code == 401
        assert refused.json()["code"] == "unauthenticated"


async def test_a_scenario_put_at_runtime_applies_at_once_and_delete_heals(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    app, _ = mock_with(population, None)
    assert (await call(app, "GET", CITIZEN)).status_code == 200
    active = scenario(rule("down", "population", {"kind": "http_error"}, failure_mode="FM-02"))
    put = await call(
        app, "PUT", "/_faults/scenario", json=active.model_dump(mode="json"), headers=ADMIN
    )
    assert put.status_code == 200
    assert (await call(app, "GET", CITIZEN)).status_code == 500
    described = (await call(app, "GET", "/_faults/scenario", headers=ADMIN)).json()
    assert described["scenario"]["id"] == "test"
    assert described["rules"] == [
        {"id": "down", "kind": "http_error", "failure_mode": "FM-02", "injected": 1}
    ]
    assert (await call(app, "DELETE", "/_faults/scenario", headers=ADMIN)).json()[
        "scenario"
    ] is None
    assert (await call(app, "GET", CITIZEN)).status_code == 200


async def test_an_invalid_scenario_put_is_refused_with_the_field_at_fault(
    mock_with: Callable[..., Any], call: Callable[..., Any]
) -> None:
    app, engine = mock_with(population, None)
    bad = scenario(rule("ok", "population", {"kind": "http_error"})).model_dump(mode="json")
    bad["rules"][0]["match"]["operations"] = ["get_citizn"]
    response = await call(app, "PUT", "/_faults/scenario", json=bad, headers=ADMIN)
    assert response.status_code == 422
    problem = response.json()
    assert problem["code"] == "invalid_scenario"
    assert problem["errors"][0]["loc"] == ["rules[0].match.operations[0]"]
    assert "get_citizn" in problem["errors"][0]["msg"]
    assert engine.scenario is None


async def test_admin_routes_are_not_in_the_published_contract(
    mock_with: Callable[..., Any],
) -> None:
    app, _ = mock_with(population, None)
    assert not [path for path in app.openapi()["paths"] if path.startswith("/_faults")]


def test_check_path_accepts_contract_paths_and_explains_the_rest() -> None:
    assert check_path(RenewalDossier, "current_administrative_unit.ward") is None
    assert check_path(RenewalDossierPage, "items", want_list=True) is None
    assert "no field 'phon'" in (check_path(RenewalDossierPage, "items[*].phon") or "")
    assert "not a list" in (check_path(RenewalDossier, "phone[*].x") or "")
    assert "not an object" in (check_path(RenewalDossier, "phone.x") or "")
