"""Each fault kind, observed from the province's side: a consumer calls the real gateway, which
calls the real mock, each an OS process on its own socket. The province sees a status, a code,
a wait or a missing field — never the mock's ``X-NDXP-Injected-Fault`` header — and the
gateway's exchange log records the classification and the injected fault."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest

from gateway.registry import Timeouts
from mock_services import civil_registry, population
from ndxp_sim.testing import Stack, registry_env, running_stack
from tests.integration.province_clients import async_province_client, exchange_record

pytestmark = pytest.mark.integration

SEED = 2024
TIMEOUT_S = 1.0
CITIZEN = population.examples(SEED)["get_citizen"].path_params["personal_id"]
CITIZEN_PATH = f"/population/v1/citizens/{CITIZEN}"
FILE_PATH = "/business-registry/v1/files/DN-038-20240603-00000-result-01"
DOSSIERS = "/business-registry/v1/enterprise-dossiers"
DOSSIER_QUERY = {"from": "2024-06-02T17:00:00Z", "to": "2024-06-03T17:00:00Z", "province": "038"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("faults-gateway")
    timeouts = Timeouts(connect_s=TIMEOUT_S, read_s=TIMEOUT_S, total_s=TIMEOUT_S)
    env = {**registry_env(root, timeouts), "NDXP_MOCKS__LIFECYCLE_MINUTE_S": "0.001"}
    with running_stack(root / "state", env) as running:
        yield running


@pytest.fixture
async def province(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    async with async_province_client(stack) as client:
        yield client
    async with httpx.AsyncClient(headers=stack.admin_headers) as admin:
        for name in ("population", "business-registry", "civil-registry"):
            await admin.delete(f"{stack.mock_url(name)}/_faults/scenario")
            await admin.put(f"{stack.mock_url(name)}/_faults/clock", json={"at": None})


def inject(stack: Stack, provider: str, fault: dict[str, Any], **match: Any) -> None:
    """One rule on one mock, sent as a scenario document to its admin route."""
    scenario = {
        "id": "one-fault",
        "title": f"one {fault['kind']} fault",
        "description": "A single rule, for a test.",
        "source": ["003 Phụ lục V row 20 (Thanh Hóa)"],
        "seed": 1,
        "rules": [{"id": "the-rule", "match": {"provider": provider, **match}, "fault": fault}],
    }
    response = httpx.put(
        f"{stack.mock_url(provider)}/_faults/scenario", json=scenario, headers=stack.admin_headers
    )
    assert response.status_code == 200, response.text


def assert_no_fault_header(response: httpx.Response) -> None:
    assert "x-ndxp-injected-fault" not in response.headers


async def test_latency_delays_the_answer(stack: Stack, province: httpx.AsyncClient) -> None:
    inject(stack, "population", {"kind": "latency", "distribution": "fixed", "ms": 300})
    started = time.perf_counter()
    response = await province.get(CITIZEN_PATH)
    waited = time.perf_counter() - started
    assert response.status_code == 200
    assert waited >= 0.3  # a lower bound: the injected wait cannot be skipped
    assert_no_fault_header(response)
    record = exchange_record(stack, response)
    assert record["outcome"] == "ok"
    assert record["injected_fault"] == "latency:the-rule"
    assert record["upstream_ms"] >= 300


async def test_a_hang_becomes_a_504_at_the_gateways_timeout(
    stack: Stack, province: httpx.AsyncClient
) -> None:
    inject(stack, "population", {"kind": "hang", "duration_s": 30})
    started = time.perf_counter()
    response = await province.get(CITIZEN_PATH)
    waited = time.perf_counter() - started
    assert response.status_code == 504
    assert response.headers["x-ndxp-error"] == "upstream_timeout"
    assert response.json()["code"] == "upstream_timeout"
    assert TIMEOUT_S <= waited < 30  # the gateway's timeout, not the provider's hang
    assert exchange_record(stack, response)["outcome"] == "upstream_timeout"


async def test_http_error_is_passed_on_and_classified(
    stack: Stack, province: httpx.AsyncClient
) -> None:
    inject(stack, "population", {"kind": "http_error", "status": 500})
    response = await province.get(CITIZEN_PATH)
    assert response.status_code == 500
    assert response.json()["code"] == "provider_error"
    assert "x-ndxp-error" not in response.headers  # the provider failed, not NDXP
    assert_no_fault_header(response)
    record = exchange_record(stack, response)
    assert (record["outcome"], record["injected_fault"]) == (
        "upstream_error",
        "http_error:the-rule",
    )


async def test_unavailable_carries_retry_after(stack: Stack, province: httpx.AsyncClient) -> None:
    inject(stack, "population", {"kind": "unavailable", "retry_after_s": 42})
    response = await province.get(CITIZEN_PATH)
    assert response.status_code == 503
    assert response.headers["retry-after"] == "42"
    assert exchange_record(stack, response)["outcome"] == "upstream_overloaded"


@pytest.mark.parametrize("phase", ["before_response", "during_body"])
async def test_a_reset_becomes_a_502_upstream_reset(
    stack: Stack, province: httpx.AsyncClient, phase: str
) -> None:
    inject(stack, "population", {"kind": "reset", "phase": phase})
    response = await province.get(CITIZEN_PATH)
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_reset"
    record = exchange_record(stack, response)
    assert record["outcome"] == "upstream_reset"
    # Mid-body, the head (and its fault header) arrived before the connection broke.
    expected = "reset:the-rule" if phase == "during_body" else None
    assert record["injected_fault"] == expected


async def test_an_empty_body_breaks_the_contract(stack: Stack, province: httpx.AsyncClient) -> None:
    inject(stack, "population", {"kind": "empty_body"}, operations=["get_citizen"])
    response = await province.get(CITIZEN_PATH)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-ndxp-contract-violations"]
    assert exchange_record(stack, response)["contract_violations"]


async def test_empty_lists_come_back_empty(stack: Stack, province: httpx.AsyncClient) -> None:
    healthy = await province.get(DOSSIERS, params=DOSSIER_QUERY)
    assert healthy.json()["items"]
    inject(
        stack,
        "business-registry",
        {"kind": "empty_list", "paths": ["items"]},
        operations=["list_enterprise_dossiers"],
    )
    response = await province.get(DOSSIERS, params=DOSSIER_QUERY)
    assert response.status_code == 200
    assert response.json()["items"] == []
    assert exchange_record(stack, response)["injected_fault"] == "empty_list:the-rule"


async def test_dropped_fields_are_missing_and_named(
    stack: Stack, province: httpx.AsyncClient
) -> None:
    fault = {"kind": "drop_fields", "fields": ["phone", "id_card_issue_date"]}
    inject(stack, "population", fault, operations=["get_citizen"])
    response = await province.get(CITIZEN_PATH)
    assert response.status_code == 200
    assert "phone" not in response.json()
    assert "id_card_issue_date" not in response.json()
    violated = set(response.headers["x-ndxp-contract-violations"].split(", "))
    assert violated == {"phone", "id_card_issue_date"}
    assert set(exchange_record(stack, response)["contract_violations"]) == violated


async def test_a_dangling_file_id_downloads_as_404(
    stack: Stack, province: httpx.AsyncClient
) -> None:
    assert (await province.get(FILE_PATH)).status_code == 200
    inject(stack, "business-registry", {"kind": "dangling_file"}, operations=["download_file"])
    response = await province.get(FILE_PATH)
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    record = exchange_record(stack, response)
    assert (record["outcome"], record["injected_fault"]) == (
        "upstream_rejected",
        "dangling_file:the-rule",
    )


async def test_stale_status_never_shows_the_hidden_statuses(
    stack: Stack, province: httpx.AsyncClient
) -> None:
    birth = civil_registry.examples(SEED)["submit_birth_registration"].body
    assert birth is not None
    for n in range(20):
        body = birth.model_copy(update={"dossier_code": f"000.00.38.H56-241230-{700 + n:04d}"})
        submitted = await province.post(
            "/civil-registry/v1/birth-registrations", json=body.model_dump(mode="json")
        )
        assert submitted.status_code == 201, submitted.text
    hidden = {"paused", "rejected", "overdue"}
    changes = "/civil-registry/v1/status-changes"
    since = {"since": "2024-01-01T00:00:00Z"}

    async def statuses() -> set[str]:
        response = await province.get(changes, params=since)
        assert response.status_code == 200
        return {item["status"] for item in response.json()["items"]}

    # Healthy first: lifecycles run at 0.001 s per simulated minute, so within moments some
    # of the 20 have been paused, rejected or overdue (poll for it, bounded).
    deadline = asyncio.get_running_loop().time() + 20
    while not hidden <= await statuses():
        assert asyncio.get_running_loop().time() < deadline, "no paused/rejected/overdue yet"
        await asyncio.sleep(0.05)
    inject(
        stack,
        "civil-registry",
        {"kind": "stale_status", "hidden_statuses": sorted(hidden)},
        operations=["list_status_changes"],
    )
    response = await province.get(changes, params=since)
    seen = {item["status"] for item in response.json()["items"]}
    assert seen
    assert seen.isdisjoint(hidden)
    assert exchange_record(stack, response)["injected_fault"] == "stale_status:the-rule"


async def test_maintenance_answers_503_within_its_window(
    stack: Stack, province: httpx.AsyncClient
) -> None:
    window = {"days": ["tue"], "start": "08:00", "end": "11:30"}
    inject(stack, "population", {"kind": "maintenance", "windows": [window]})
    clock = f"{stack.mock_url('population')}/_faults/clock"
    async with httpx.AsyncClient(headers=stack.admin_headers) as admin:
        outside = await admin.put(clock, json={"at": "2024-06-04T12:00:00+07:00"})
        assert outside.status_code == 200
        assert (await province.get(CITIZEN_PATH)).status_code == 200
        await admin.put(clock, json={"at": "2024-06-04T11:00:00+07:00"})
    response = await province.get(CITIZEN_PATH)
    assert response.status_code == 503
    assert response.json()["code"] == "provider_maintenance"
    assert 0 < int(response.headers["retry-after"]) <= 30 * 60
    assert exchange_record(stack, response)["outcome"] == "provider_maintenance"


async def test_overload_sheds_what_exceeds_capacity_and_queue(
    stack: Stack, province: httpx.AsyncClient
) -> None:
    fault = {"kind": "overload", "max_concurrent": 2, "max_queue": 2, "queue_timeout_s": 5,
             "service_time_ms": 500, "retry_after_s": 7}  # fmt: skip
    inject(stack, "population", fault)
    responses = await asyncio.gather(*(province.get(CITIZEN_PATH) for _ in range(10)))
    statuses = sorted(r.status_code for r in responses)
    assert statuses.count(200) >= 2
    shed = [r for r in responses if r.status_code == 503]
    assert shed
    assert all(r.json()["code"] == "provider_overloaded" for r in shed)
    assert all(r.headers["retry-after"] == "7" for r in shed)
    assert exchange_record(stack, shed[0])["outcome"] == "upstream_overloaded"


async def test_metrics_count_injected_faults_and_outcomes(
    stack: Stack, province: httpx.AsyncClient
) -> None:
    inject(stack, "population", {"kind": "http_error", "status": 502}, operations=["get_citizen"])
    for _ in range(3):
        assert (await province.get(CITIZEN_PATH)).status_code == 502
    metrics = (await province.get("/metrics")).text
    injected = (
        'ndxp_injected_faults_total{kind="http_error",provider="population",'
        'rule="the-rule",service="population.get_citizen"}'
    )
    counted = [line for line in metrics.splitlines() if line.startswith(injected)]
    assert counted, metrics
    assert float(counted[0].split()[-1]) >= 3
    assert 'outcome="upstream_error"' in metrics
