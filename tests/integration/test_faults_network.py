"""Faults that belong to the network, on a real uvicorn server and real sockets.

One population mock with the engine installed runs on loopback; each test picks its fault by
the calling province (``X-NDXP-Province``, as the gateway forwards it): a reset before the
response, a reset in the middle of the body, a hang longer than the client waits, a short
latency. Durations stay between 0.2 and 0.5 s.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from contracts.headers import INJECTED_FAULT_HEADER
from gateway.testing import serve_in_thread
from mock_services.faults import FaultEngine, install_fault_engine
from mock_services.population import create_app, sample_ids
from mock_services.scenarios import parse_scenario
from ndxp_config.settings import DEV_ADMIN_TOKEN, MockSettings, Settings

pytestmark = pytest.mark.integration

SEED = 2024
CITIZEN = f"/v1/citizens/{sample_ids(SEED, '038', 1)[0]}"
RESET_BEFORE, RESET_DURING, HANG, SLOW = "001", "002", "004", "006"
HANG_S, SLOW_S, CLIENT_READ_S = 0.5, 0.2, 0.2


def _rule(rule_id: str, province: str, fault: dict[str, object]) -> dict[str, object]:
    return {
        "id": rule_id,
        "match": {"provider": "population", "provinces": [province]},
        "fault": fault,
    }


@pytest.fixture(scope="module")
def engine() -> FaultEngine:
    scenario = parse_scenario(
        {
            "id": "network",
            "title": "Network faults",
            "description": "One fault per calling province.",
            "source": ["tests"],
            "rules": [
                _rule("cut-early", RESET_BEFORE, {"kind": "reset", "phase": "before_response"}),
                _rule("cut-mid-body", RESET_DURING, {"kind": "reset", "phase": "during_body"}),
                _rule("stuck", HANG, {"kind": "hang", "duration_s": HANG_S}),
                _rule("slow", SLOW, {"kind": "latency", "ms": SLOW_S * 1000}),
            ],
        }
    )
    return FaultEngine("population", scenario)


@pytest.fixture(scope="module")
def url(engine: FaultEngine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    state: Path = tmp_path_factory.mktemp("state")
    app = create_app(Settings(mocks=MockSettings(seed=SEED), state_dir=state))
    install_fault_engine(app, engine)
    with serve_in_thread(app) as base:
        yield base


def injected_count(engine: FaultEngine, rule_id: str) -> int:
    return next(r["injected"] for r in engine.describe()["rules"] if r["id"] == rule_id)


async def test_reset_before_the_response_reaches_the_caller_as_a_dropped_connection(
    url: str, engine: FaultEngine
) -> None:
    before = injected_count(engine, "cut-early")
    async with httpx.AsyncClient(base_url=url) as client:
        with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
            await client.get(CITIZEN, headers={"X-NDXP-Province": RESET_BEFORE})
    assert injected_count(engine, "cut-early") == before + 1


async def test_reset_during_the_body_sends_status_and_headers_then_breaks_the_body(
    url: str,
) -> None:
    async with httpx.AsyncClient(base_url=url) as client:
        request = client.build_request("GET", CITIZEN, headers={"X-NDXP-Province": RESET_DURING})
        response = await client.send(request, stream=True)
        try:
            assert response.status_code == 200
            assert response.headers[INJECTED_FAULT_HEADER] == "reset:cut-mid-body"
            assert int(response.headers["content-length"]) > 0
            with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
                await response.aread()
        finally:
            await response.aclose()


async def test_a_hang_outlasts_the_callers_read_timeout(url: str) -> None:
    timeout = httpx.Timeout(30.0, read=CLIENT_READ_S)  # connect: bounds a hang only
    async with httpx.AsyncClient(base_url=url, timeout=timeout) as client:
        started = time.perf_counter()
        with pytest.raises(httpx.ReadTimeout):
            await client.get(CITIZEN, headers={"X-NDXP-Province": HANG})
        assert time.perf_counter() - started >= CLIENT_READ_S


async def test_a_patient_caller_gets_the_hung_answer_late(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        started = time.perf_counter()
        response = await client.get(CITIZEN, headers={"X-NDXP-Province": HANG})
        elapsed = time.perf_counter() - started
    assert response.status_code == 200
    assert response.headers[INJECTED_FAULT_HEADER] == "hang:stuck"
    assert elapsed >= HANG_S


async def test_latency_is_measured_on_the_wire(url: str) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        started = time.perf_counter()
        slow = await client.get(CITIZEN, headers={"X-NDXP-Province": SLOW})
        slow_s = time.perf_counter() - started
    assert slow.status_code == 200
    assert slow.headers[INJECTED_FAULT_HEADER] == "latency:slow"
    assert slow_s >= SLOW_S


async def test_the_server_keeps_serving_after_resets_and_admin_sees_the_counts(
    url: str,
) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=30.0) as client:
        for province in (RESET_BEFORE, RESET_DURING):
            with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
                await client.get(CITIZEN, headers={"X-NDXP-Province": province})
        healthy = await client.get(CITIZEN, headers={"X-NDXP-Province": "038"})
        described = await client.get(
            "/_faults/scenario", headers={"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
        )
    assert healthy.status_code == 200
    assert INJECTED_FAULT_HEADER not in healthy.headers
    counts = {rule["id"]: rule["injected"] for rule in described.json()["rules"]}
    assert counts["cut-early"] >= 1
    assert counts["cut-mid-body"] >= 1


def test_a_hang_ends_when_the_caller_hangs_up_so_the_server_stops_at_once(tmp_path: Path) -> None:
    scenario = parse_scenario(
        {
            "id": "hang",
            "title": "A long hang",
            "description": "Longer than any test.",
            "source": ["tests"],
            "rules": [
                {
                    "id": "stuck",
                    "match": {"provider": "population"},
                    "fault": {"kind": "hang", "duration_s": 60},
                }
            ],
        }
    )
    app = create_app(Settings(mocks=MockSettings(seed=SEED), state_dir=tmp_path))
    install_fault_engine(app, FaultEngine("population", scenario))
    before = set(threading.enumerate())
    with serve_in_thread(app) as base:
        server = [t for t in set(threading.enumerate()) - before if t.name.endswith("(run)")]
        assert len(server) == 1
        with pytest.raises(httpx.ReadTimeout):
            httpx.get(base + CITIZEN, timeout=httpx.Timeout(30.0, read=CLIENT_READ_S))
    # Uvicorn waits for running handlers before it stops: a handler still sleeping out its
    # 60 s would hold the shutdown, and the helper would give up on the thread, still alive.
    assert not server[0].is_alive()
