"""The SDK against the whole stack on real sockets: gateway and mocks as OS processes.

One stack for the module (~4 s to start); each test uses its own province's consumer so that
quotas and breakers never meet. Faults are switched on a mock through its ``/_faults``
admin route, exactly as the trainer's tools do.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from connectors import (
    CircuitOpen,
    ClientEvent,
    NdxpClient,
    QuotaExceeded,
    UpstreamOverloaded,
)
from contracts.population import Citizen
from mock_services.civil_registry import example_requests
from mock_services.population import sample_ids
from ndxp_sim.testing import Stack, running_stack

pytestmark = pytest.mark.integration

SEED = 2024


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    state_dir: Path = tmp_path_factory.mktemp("connectors-stack")
    with running_stack(state_dir) as running:
        yield running


def client(stack: Stack, slug: str, **options: object) -> NdxpClient:
    return NdxpClient(
        stack.gateway_url,
        f"onestop-{slug}",
        f"dev-secret-{slug}",
        timeout=10.0,
        **options,  # type: ignore[arg-type]
    )


class ManualClock:
    """Time that moves only when the test says so (breaker reset, backoff)."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.now += seconds


async def test_lookup_returns_the_contract_model_and_the_exchange(stack: Stack) -> None:
    pid = sample_ids(SEED, "038", 1)[0]

    async with client(stack, "thanh-hoa") as ndxp:
        citizen = await ndxp.population.get_citizen(pid)
        exchange = ndxp.last_exchange

    assert isinstance(citizen, Citizen)
    assert citizen.personal_id == pid
    assert exchange is not None
    assert exchange.status == 200
    assert exchange.exchange_id
    assert exchange.quota_remaining == 50_000 - 1  # the reports' daily population figure
    assert exchange.attempts == 1


async def test_birth_registration_sent_twice_with_one_key_is_one_registration(
    stack: Stack,
) -> None:
    body = example_requests(SEED)[0]

    async with client(stack, "thanh-hoa") as ndxp:
        first = await ndxp.civil_registry.submit_birth_registration(
            body, idempotency_key=body.dossier_code
        )
        first_status = ndxp.last_exchange.status if ndxp.last_exchange else None
        second = await ndxp.civil_registry.submit_birth_registration(
            body, idempotency_key=body.dossier_code
        )
        second_status = ndxp.last_exchange.status if ndxp.last_exchange else None

    assert second.registration_id == first.registration_id
    assert (first_status, second_status) == (201, 200)  # created, then the same one again


async def test_quota_reserve_stops_before_the_quota_is_spent(stack: Stack) -> None:
    consumer = "onestop-nghe-an"
    pid = sample_ids(SEED, "040", 1)[0]
    async with httpx.AsyncClient(base_url=stack.gateway_url, headers=stack.admin_headers) as admin:
        answer = await admin.put(
            f"/admin/quotas/{consumer}/population.get_citizen", json={"limit": 3}
        )
        assert answer.status_code == 200, answer.text

        async with client(stack, "nghe-an", quota_reserve=1) as ndxp:
            await ndxp.population.get_citizen(pid)  # 2 left
            await ndxp.population.get_citizen(pid)  # 1 left: the reserve
            with pytest.raises(QuotaExceeded) as kept:
                await ndxp.population.get_citizen(pid)

        async with client(stack, "nghe-an") as ndxp:  # no reserve: spend it, then the 429
            await ndxp.population.get_citizen(pid)
            with pytest.raises(QuotaExceeded) as spent:
                await ndxp.population.get_citizen(pid)

        report = (await admin.get("/admin/quotas", params={"consumer": consumer})).json()

    assert kept.value.reserve
    assert kept.value.remaining == 1
    assert not spent.value.reserve
    assert spent.value.from_gateway
    assert spent.value.reset_at is not None
    assert spent.value.retry_after_s is not None
    service_entry = next(e for e in report["items"] if e["service"] == "population.get_citizen")
    assert service_entry["used"] == 3  # the reserved call was never sent


async def test_faulted_provider_is_retried_then_the_breaker_opens(stack: Stack) -> None:
    scenario = {
        "id": "sdk-test-unavailable",
        "title": "Population answers 503",
        "description": "Every population lookup is refused with 503 and Retry-After: 1.",
        "source": ["tests/integration/test_connectors.py"],
        "rules": [
            {
                "id": "population-down",
                "match": {"provider": "population", "operations": ["get_citizen"]},
                "fault": {"kind": "unavailable", "retry_after_s": 1},
            }
        ],
    }
    mock = stack.mock_url("population")
    clock = ManualClock()
    events: list[ClientEvent] = []
    pid = sample_ids(SEED, "001", 1)[0]
    async with httpx.AsyncClient(base_url=mock, headers=stack.admin_headers) as faults:
        put = await faults.put("/_faults/scenario", json=scenario)
        assert put.status_code == 200, put.text
        try:
            async with client(
                stack,
                "ha-noi",
                max_attempts=3,
                breaker_failures=3,
                breaker_reset_s=30.0,
                clock=clock,
                sleep=clock.sleep,
                on_event=events.append,
            ) as ndxp:
                with pytest.raises(UpstreamOverloaded):
                    await ndxp.population.get_citizen(pid)
                with pytest.raises(CircuitOpen):
                    await ndxp.population.get_citizen(pid)
                await faults.delete("/_faults/scenario")
                clock.now += 30.0
                citizen = await ndxp.population.get_citizen(pid)  # the probe
        finally:
            await faults.delete("/_faults/scenario")

    assert citizen.personal_id == pid
    retries = [e for e in events if e.kind == "retry"]
    assert [(e.attempt, e.delay_s, e.code) for e in retries] == [
        (1, 1.0, "service_unavailable"),
        (2, 1.0, "service_unavailable"),
    ]
    assert [e.breaker_state for e in events if e.kind == "breaker"] == [
        "open",
        "half_open",
        "closed",
    ]
    sent = [e for e in events if e.kind == "request"]
    assert len(sent) == 4  # three failed attempts, nothing while open, one probe
