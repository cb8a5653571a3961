"""The real gateway with ``uvicorn --workers 2``: quotas exact across processes, kept on restart.

The gateway runs as the supervisor runs it (``gateway.server:app_factory``, settings from
``NDXP_*`` with a private state dir, ``PROMETHEUS_MULTIPROC_DIR`` set) in front of a real
upstream server, and 120 concurrent requests race for a quota of 50. Every wait is on a
condition, bounded by ``DEADLINE_S`` only against a hang, so a loaded machine only slows it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gateway.registry import render_registry
from gateway.testing import ADMIN_TOKEN, THANH_HOA, free_port, serve_in_thread, small_registry

pytestmark = pytest.mark.integration

QUOTA = 50
REQUESTS = 120  # concurrent, over two workers: more than twice the quota, sized for 2 cores
DEADLINE_S = 60.0
ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[str, list[str]]]:
    forwarded: list[str] = []

    async def citizen(request: Request) -> JSONResponse:
        forwarded.append(request.headers["x-ndxp-exchange-id"])
        return JSONResponse({"loc": ["x"], "msg": "m", "type": "t"})

    app = Starlette(routes=[Route("/v1/citizens/{personal_id}", citizen)])
    with serve_in_thread(app) as url:
        yield url, forwarded


class Gateway:
    """A ``uvicorn --workers 2`` gateway process; started, stopped, restarted by the test."""

    def __init__(self, tmp_path: Path, upstream_url: str) -> None:
        state = tmp_path / "state"
        state.mkdir()
        registry = small_registry(
            base_url=upstream_url, service_quotas={"population.get_citizen": QUOTA}
        )
        (tmp_path / "registry.yaml").write_text(render_registry(registry), encoding="utf-8")
        metrics_dir = tmp_path / "prometheus"
        metrics_dir.mkdir()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("NDXP_")}
        self.env |= {
            "NDXP_STATE_DIR": str(state),
            "NDXP_GATEWAY__REGISTRY_PATH": str(tmp_path / "registry.yaml"),
            "NDXP_GATEWAY__ADMIN_TOKEN": ADMIN_TOKEN,
            "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
        }
        self.log = tmp_path / "gateway.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        argv = [sys.executable, "-m", "uvicorn", "gateway.server:app_factory", "--factory",
                "--workers", "2", "--port", str(self.port), "--log-level", "warning"]  # fmt: skip
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(argv, env=self.env, stdout=log, stderr=log)
        deadline = time.monotonic() + DEADLINE_S
        with httpx.Client(timeout=5.0) as client:
            while True:
                assert self.process.poll() is None, self.log.read_text()
                try:
                    if client.get(f"{self.url}/healthz").status_code == 200:
                        return
                except httpx.TransportError:
                    pass  # not listening yet
                assert time.monotonic() < deadline, self.log.read_text()
                time.sleep(0.1)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # graceful: lifespans flush their logs
            self.process.wait(DEADLINE_S)


@pytest.fixture
def gateway(tmp_path: Path, upstream: tuple[str, list[str]]) -> Iterator[Gateway]:
    gw = Gateway(tmp_path, upstream[0])
    gw.start()
    try:
        yield gw
    finally:
        gw.stop()


async def _token(client: httpx.AsyncClient) -> dict[str, str]:
    response = await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": THANH_HOA[0],
              "client_secret": THANH_HOA[1]},
    )  # fmt: skip
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _exchanges_total(client: httpx.AsyncClient, expected: int) -> int:
    # Each worker's log writes in the background; wait (bounded) until the records are there.
    deadline = time.monotonic() + DEADLINE_S
    while True:
        total: int = (await client.get("/admin/exchanges?limit=1", headers=ADMIN)).json()["total"]
        if total >= expected or time.monotonic() > deadline:
            return total
        await asyncio.sleep(0.05)


def _metric_sum(text: str, name: str, **labels: str) -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


async def test_quota_is_exact_across_two_workers_and_survives_a_restart(
    gateway: Gateway, upstream: tuple[str, list[str]]
) -> None:
    _, forwarded = upstream
    forwarded.clear()
    limits = httpx.Limits(max_connections=REQUESTS)
    async with httpx.AsyncClient(base_url=gateway.url, timeout=DEADLINE_S, limits=limits) as client:
        token = await _token(client)
        responses = await asyncio.gather(
            *(client.get("/population/v1/citizens/038090001234", headers=token)
              for _ in range(REQUESTS))
        )  # fmt: skip
        statuses = [r.status_code for r in responses]
        assert statuses.count(200) == QUOTA
        assert statuses.count(429) == REQUESTS - QUOTA
        assert len(forwarded) == QUOTA
        assert await _exchanges_total(client, REQUESTS) == REQUESTS

        metrics = (await client.get("/metrics")).text
        assert _metric_sum(metrics, "ndxp_exchanges_total", consumer=THANH_HOA[0]) == REQUESTS
        assert _metric_sum(metrics, "ndxp_quota_rejections_total") == REQUESTS - QUOTA
        assert (
            _metric_sum(metrics, "ndxp_quota_used", policy="daily-population.get_citizen") == QUOTA
        )

    gateway.stop()
    gateway.start()
    async with httpx.AsyncClient(base_url=gateway.url, timeout=DEADLINE_S) as client:
        after = await client.get(
            "/population/v1/citizens/038090001234", headers=await _token(client)
        )
        assert after.status_code == 429
        quotas = (await client.get(f"/admin/quotas?consumer={THANH_HOA[0]}", headers=ADMIN)).json()
        used = {e["policy"]: e["used"] for e in quotas["items"]}
        assert used["daily-population.get_citizen"] == QUOTA
        assert await _exchanges_total(client, REQUESTS + 1) == REQUESTS + 1
    assert len(forwarded) == QUOTA
