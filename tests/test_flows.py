"""The five one-stop flows end to end, in process: SDK → real gateway → real mocks (ASGI).

Time is a fake clock shared by the flows and the civil registry, so a registration goes
through its whole lifecycle without a second of waiting; scenarios are switched on the mocks'
fault engines directly, as ``PUT /_faults/scenario`` would.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from pydantic import ValidationError
from structlog.testing import capture_logs

from connectors.client import NdxpClient
from connectors.flows import (
    FLOWS,
    FlowOptions,
    FlowResult,
    birth_registration,
    business_sync,
    household_verification,
    licence_renewal,
    record_event,
)
from connectors.flows.common import execute
from connectors.flows.recording import Partial
from connectors.provinces import (
    DAILY_FLOWS,
    DEFAULT_RATE,
    FLOW_NAMES,
    Mix,
    OneStopSystem,
    UnknownProvince,
    draw_system,
    find_system,
    one_stop_systems,
)
from contracts.population import Citizen
from gateway.registry import default_registry
from gateway.testing import gateway_settings, running_gateway
from mock_services import (
    business_registry,
    civil_registry,
    driver_licence,
    judicial_records,
    population,
)
from mock_services.dossiers import VIETNAM_TZ
from mock_services.scenarios import Scenario, find_scenario, parse_scenario
from ndxp_config.settings import Settings

# A Wednesday morning in Vietnam: last week's dossiers exist, the registry's office is open.
START = datetime(2024, 6, 5, 9, 30, tzinfo=VIETNAM_TZ)


class FakeTime:
    """The clock of the flows and the civil registry; ``sleep`` moves it instead of waiting."""

    def __init__(self, start: datetime) -> None:
        self.current = start
        self.slept = 0.0

    def now(self) -> datetime:
        return self.current

    async def sleep(self, seconds: float) -> None:
        self.slept += seconds
        self.current += timedelta(seconds=seconds)


async def no_wait(seconds: float) -> None:
    """The SDK's backoff sleep: retries happen at once."""


@dataclass
class Sim:
    settings: Settings
    mocks: dict[str, FastAPI]
    gateway: FastAPI
    time: FakeTime
    stack: AsyncExitStack
    clients: dict[str, NdxpClient] = field(default_factory=dict)

    @property
    def options(self) -> FlowOptions:
        # The registry's processing time is 8 h here: poll every 10 min, for up to 20 h.
        return FlowOptions(
            clock=self.time.now, sleep=self.time.sleep, max_poll_s=3600, max_wait_s=10**6
        )

    def system(self, name: str) -> OneStopSystem:
        return find_system(self.settings, name)

    async def client(self, system: OneStopSystem) -> NdxpClient:
        if system.client_id not in self.clients:
            client = NdxpClient(
                "http://gateway.test",
                system.client_id,
                system.client_secret,
                transport=httpx.ASGITransport(app=self.gateway),
                on_event=record_event,
                sleep=no_wait,
            )
            self.clients[system.client_id] = await self.stack.enter_async_context(client)
        return self.clients[system.client_id]

    def scenario(self, scenario: Scenario | str) -> None:
        chosen = find_scenario(scenario) if isinstance(scenario, str) else scenario
        for app in self.mocks.values():
            app.state.fault_engine.set_scenario(chosen)

    async def run(self, flow: str, province: str, seed: int = 1) -> FlowResult:
        system = self.system(province)
        return await FLOWS[flow](  # type: ignore[index]
            await self.client(system), system, seed=seed, options=self.options
        )


@asynccontextmanager
async def in_process_stack(state_dir: Path) -> AsyncIterator[Sim]:
    """The real gateway (default registry: 63 provinces) in front of the four real mocks."""
    settings = gateway_settings(state_dir, default_registry())
    fake = FakeTime(START)
    mocks: dict[str, FastAPI] = {
        "population": population.create_app(settings),
        "business-registry": business_registry.create_app(settings),
        "driver-licence": driver_licence.create_app(settings),
        "civil-registry": civil_registry.create_app(settings, clock=fake.now),
        "judicial-records": judicial_records.create_app(settings, clock=fake.now),
    }
    transports = {name: httpx.ASGITransport(app=app) for name, app in mocks.items()}
    async with AsyncExitStack() as stack:
        gateway, _ = await stack.enter_async_context(running_gateway(settings, transports))
        yield Sim(settings, mocks, gateway, fake, stack)


@pytest.fixture
async def sim(tmp_path: Path) -> AsyncIterator[Sim]:
    async with in_process_stack(tmp_path / "state") as running:
        yield running


def services(result: FlowResult) -> list[str]:
    return [step.service for step in result.steps]


# -- the one-stop systems -------------------------------------------------------------------


def test_every_province_has_a_one_stop_system_with_registry_credentials(
    settings: Settings,
) -> None:
    systems = one_stop_systems(settings)
    assert len(systems) == 63
    thanh_hoa = systems["038"]
    assert (thanh_hoa.client_id, thanh_hoa.client_secret) == (
        "onestop-thanh-hoa",
        "dev-secret-thanh-hoa",
    )


@pytest.mark.parametrize("name", ["Thanh Hóa", "thanh hoa", "thanh-hoa", "038", "Tỉnh Thanh Hóa"])
def test_provinces_are_found_with_or_without_diacritics(settings: Settings, name: str) -> None:
    assert find_system(settings, name).consumer_id == "onestop-thanh-hoa"


def test_an_unknown_province_is_refused_by_name(settings: Settings) -> None:
    with pytest.raises(UnknownProvince, match="Atlantis"):
        find_system(settings, "Atlantis")


def test_default_rate_spreads_the_reported_daily_volumes_over_an_office_day() -> None:
    assert set(DAILY_FLOWS) == set(FLOW_NAMES)
    assert pytest.approx(sum(DAILY_FLOWS.values()) / (8 * 3600), abs=0.05) == DEFAULT_RATE


def test_mix_parses_weights_and_refuses_unknown_flows() -> None:
    mix = Mix.parse("licence-renewal=3,business_sync")
    assert dict(mix.weights) == {"licence_renewal": 3.0, "business_sync": 1.0}
    rng = random.Random(1)
    assert {mix.draw(rng) for _ in range(50)} == {"licence_renewal", "business_sync"}
    with pytest.raises(ValueError, match="unknown flow"):
        Mix.parse("teleport=1")


def test_provinces_are_drawn_by_population(settings: Settings) -> None:
    systems = one_stop_systems(settings)
    rng = random.Random(7)
    drawn = [draw_system(rng, systems).province.code for _ in range(4000)]
    # Hồ Chí Minh (9.46 M) is drawn far more often than Bắc Kạn (0.33 M).
    assert drawn.count("079") > 10 * max(1, drawn.count("006"))


def test_a_partial_answer_reads_like_a_model_with_missing_fields_as_none() -> None:
    partial = Partial.wrap({"items": [{"dossier_id": "X", "holder": {"full_name": "A"}}]})
    assert partial.items[0].dossier_id == "X"
    assert partial.items[0].holder.full_name == "A"
    assert partial.items[0].phone is None


# -- baseline: every flow completes ----------------------------------------------------------


async def test_licence_renewal_completes_hop_by_hop_under_baseline(sim: Sim) -> None:
    with capture_logs() as logs:
        result = await sim.run("licence_renewal", "Thanh Hóa")
    assert result.outcome == "completed", result.reason
    assert services(result) == [
        "driver-licence.list_renewal_dossiers",
        "population.get_citizen",
        "driver-licence.get_licence",
        "driver-licence.get_renewal_dossier",
        "driver-licence.download_file",
    ]
    assert all(step.status == 200 and step.exchange_id for step in result.steps)
    assert len(set(result.exchange_ids)) == 5
    assert result.steps[0].quota_remaining is not None
    outcome_lines = [line for line in logs if line["event"] == "flow_outcome"]
    assert len(outcome_lines) == 1
    assert outcome_lines[0]["outcome"] == "completed"
    assert outcome_lines[0]["consumer"] == "onestop-thanh-hoa"


async def test_household_verification_completes_under_baseline(sim: Sim) -> None:
    result = await sim.run("household_verification", "Hà Nội")
    assert result.outcome == "completed", result.reason
    assert services(result) == ["population.get_citizen", "population.verify_household"]
    assert "verified in household" in result.reason


async def test_business_sync_fetches_each_detail_and_each_file_under_baseline(sim: Sim) -> None:
    result = await sim.run("business_sync", "Hồ Chí Minh")
    assert result.outcome == "completed", result.reason
    kinds = {s.service.rsplit("_", 1)[0] for s in result.steps if "list_" in s.service}
    assert len(kinds) == 1
    details = [s for s in result.steps if s.operation.startswith("get_")]
    files = [s for s in result.steps if s.operation == "download_file"]
    assert len(details) == 3
    assert len(files) >= 2 * len(details)  # each dossier has components and a result


async def test_birth_registration_reaches_a_final_status_under_baseline(sim: Sim) -> None:
    result = await sim.run("birth_registration", "Thanh Hóa", seed=3)
    assert result.outcome == "completed", result.reason
    assert services(result)[:3] == [
        "population.get_citizen",
        "population.get_citizen",
        "civil-registry.submit_birth_registration",
    ]
    polls = [s for s in result.steps if s.service == "civil-registry.get_registration"]
    assert polls
    assert polls[-1].note is not None
    assert polls[-1].note.split()[0] in ("processed", "returned", "rejected")
    assert sim.time.slept > 0  # it waited between polls, on the injected clock


@pytest.mark.parametrize("seed", range(4))
async def test_every_flow_completes_under_baseline(sim: Sim, seed: int) -> None:
    for flow in FLOW_NAMES:
        result = await sim.run(flow, "Nghệ An", seed=seed)
        assert result.outcome == "completed", (flow, result.reason)


# -- failure scenarios: degraded or failed, as the reports describe -------------------------


async def test_licence_renewal_is_degraded_by_missing_fields_under_fm_04(sim: Sim) -> None:
    sim.scenario("fm-04")
    result = await sim.run("licence_renewal", "Thanh Hóa")
    assert result.outcome == "degraded"
    assert "contract violation" in result.reason
    assert result.steps[0].violations  # the renewal list lacks the seven reported fields


async def test_licence_renewal_without_a_result_file_is_degraded_under_fm_05(sim: Sim) -> None:
    sim.scenario("fm-05")
    result = await sim.run("licence_renewal", "Thái Nguyên")
    assert result.outcome == "degraded"
    assert services(result)[-1] == "driver-licence.get_renewal_dossier"


async def test_business_sync_of_quang_binh_gets_empty_lists_under_fm_03(sim: Sim) -> None:
    sim.scenario("fm-03")
    result = await sim.run("business_sync", "Quảng Bình")
    assert result.outcome == "degraded"
    assert "were expected" in result.reason
    assert len(result.steps) == 1


async def test_business_sync_of_binh_duong_fails_where_its_apis_fail_under_fm_03(
    sim: Sim,
) -> None:
    sim.scenario("fm-03")
    outcomes = {
        (await sim.run("business_sync", "Bình Dương", seed=seed)).outcome for seed in range(6)
    }
    assert "failed" in outcomes or "degraded" in outcomes
    assert outcomes <= {"failed", "degraded", "completed"}


async def test_birth_registration_is_degraded_when_statuses_are_not_synced_under_fm_06(
    sim: Sim,
) -> None:
    sim.scenario("fm-06")
    results = [await sim.run("birth_registration", "Yên Bái", seed=seed) for seed in range(3)]
    # Only registrations whose lifecycle passes a hidden step, or that stay frozen, are degraded.
    outcomes = {r.outcome for r in results}
    assert "degraded" in outcomes, [r.reason for r in results]
    assert outcomes <= {"degraded", "completed"}, [r.reason for r in results]


async def test_a_civil_registry_that_is_down_fails_the_birth_flow_after_retries(
    sim: Sim,
) -> None:
    down = parse_scenario(
        {
            "id": "down",
            "title": "down",
            "description": "the civil registry answers 503 with Retry-After: 1",
            "source": ["test"],
            "rules": [
                {
                    "id": "down",
                    "match": {"provider": "civil-registry"},
                    "fault": {"kind": "unavailable", "retry_after_s": 1},
                }
            ],
        }
    )
    sim.scenario(down)
    result = await sim.run("birth_registration", "Điện Biên")
    assert result.outcome == "failed"
    submit = result.steps[-1]
    assert submit.service == "civil-registry.submit_birth_registration"
    assert submit.status == 503
    assert submit.retries == 3  # the dossier code is the idempotency key: the POST is retried
    assert "after 4 attempts" in result.reason


async def test_concurrent_flows_on_one_client_keep_their_own_hops(sim: Sim) -> None:
    import asyncio

    system = sim.system("Thanh Hóa")
    client = await sim.client(system)
    flows: list[Callable[..., Any]] = [
        licence_renewal,
        household_verification,
        business_sync,
        birth_registration,
    ]
    results = await asyncio.gather(
        *(flow(client, system, seed=9, options=sim.options) for flow in flows)
    )
    ids = [eid for r in results for eid in r.exchange_ids]
    assert len(ids) == len(set(ids))  # no hop was recorded by two flows
    assert [r.steps[0].index for r in results] == [1, 1, 1, 1]
    assert services(results[1]) == ["population.get_citizen", "population.verify_household"]


async def test_criminal_record_certificate_follows_the_request_to_the_certificate(
    sim: Sim,
) -> None:
    """Population → request → status polled on the fake clock → the certificate, whose holder
    is the applicant the population names."""
    result = await sim.run("criminal_record_certificate", "Hải Phòng", seed=1)
    assert result.outcome == "completed", result.reason
    hops = services(result)
    assert hops[:2] == ["population.get_citizen", "judicial-records.request_certificate"]
    polls = [s for s in result.steps if s.service == "judicial-records.get_certificate_request"]
    assert polls
    assert sim.time.slept > 0
    if hops[-1] == "judicial-records.get_certificate":
        assert "issued, certificate" in result.reason
    else:  # a rejection is an answer too, with the centre's reason
        assert "rejected (3)" in result.reason


async def test_a_certificate_about_someone_else_degrades_the_flow(sim: Sim) -> None:
    """A wrong value on the certificate (another person's name) is caught against the
    population record the form was filled from."""
    scenario = parse_scenario(
        {
            "id": "wrong-holder",
            "title": "wrong holder",
            "description": "judicial records answer another name on the certificate",
            "source": ["tests"],
            "rules": [
                {
                    "id": "another-holder",
                    "failure_mode": "FM-04",
                    "match": {"provider": "judicial-records", "operations": ["get_certificate"]},
                    "fault": {"kind": "wrong_value", "values": {"full_name": "Nguyễn Văn Khác"}},
                }
            ],
        }
    )
    sim.scenario(scenario)
    for seed in range(1, 8):
        result = await sim.run("criminal_record_certificate", "Hải Phòng", seed=seed)
        if services(result)[-1] == "judicial-records.get_certificate":
            assert result.outcome == "degraded", result.reason
            assert "full_name" in result.reason
            return
    pytest.fail("no request was issued in 7 runs")


async def test_criminal_record_certificate_fails_in_the_lltp_upgrade_window_under_fm_11(
    sim: Sim,
) -> None:
    """Row 62: on a Tuesday at 09:00 the judicial-records system is down for upgrades; the
    province's request fails with provider_maintenance, the population hop before it does not."""
    sim.scenario("fm-11")
    sim.mocks["judicial-records"].state.fault_engine.set_clock(
        datetime(2024, 6, 4, 9, 0, tzinfo=VIETNAM_TZ)
    )
    result = await sim.run("criminal_record_certificate", "Ninh Thuận", seed=2)
    assert result.outcome == "failed", result.reason
    assert "provider_maintenance" in result.reason
    assert services(result) == ["population.get_citizen", "judicial-records.request_certificate"]
    assert result.steps[0].status == 200


async def test_a_drifted_date_in_an_answer_degrades_the_birth_flow_instead_of_raising(
    sim: Sim,
) -> None:
    """FM-08: the parents' dates of birth come as dd/mm/yyyy; the SDK's typed method raises
    ContractViolation, the flow goes on with the raw answer, and the request it cannot build
    from it (CitizenRef.date_of_birth) ends the run degraded, naming the field."""
    sim.scenario(
        parse_scenario(
            {
                "id": "drifted-dates",
                "title": "dates of birth as dd/mm/yyyy",
                "description": "The population database sends local dates (FM-08).",
                "source": ["test"],
                "rules": [
                    {
                        "id": "local-dates",
                        "failure_mode": "FM-08",
                        "source": ["test"],
                        "match": {"provider": "population", "operations": ["get_citizen"]},
                        "fault": {
                            "kind": "date_format",
                            "paths": ["date_of_birth"],
                            "format": "dd/mm/yyyy",
                        },
                    }
                ],
            }
        )
    )
    result = await sim.run("birth_registration", "Thanh Hóa")
    assert result.outcome == "degraded", result.reason
    assert "CitizenRef.date_of_birth" in result.reason  # where the flow had to stop
    # Father and mother looked up; nothing submitted from the drifted dates.
    assert services(result) == ["population.get_citizen", "population.get_citizen"]
    assert "date_of_birth" in result.steps[0].violations


async def test_a_validation_error_without_a_drifted_answer_is_the_flows_bug_and_raises(
    sim: Sim,
) -> None:
    """The runner turns a model error into ``degraded`` only after a recorded violation."""

    async def buggy(*_: Any) -> None:
        Citizen.model_validate({})

    system = sim.system("Thanh Hóa")
    with pytest.raises(ValidationError):
        await execute("birth_registration", buggy, await sim.client(system), system)
