"""Helpers to run the gateway in tests and benchmarks (like ``structlog.testing``).

A small registry in front of a fake upstream, the app's lifespan run in-process with an
``httpx.ASGITransport`` client, tokens, and a real uvicorn server in a thread for the
behaviours that belong to the network (timeouts, resets).
"""

from __future__ import annotations

import socket
import threading
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from pydantic import SecretStr

from gateway.app import create_app
from gateway.registry import (
    ConsumerSpec,
    OperationSpec,
    ProviderSpec,
    Registry,
    Timeouts,
    render_registry,
)
from ndxp_config.settings import GatewaySettings, Settings

THANH_HOA = ("onestop-thanh-hoa", "dev-secret-thanh-hoa")
HA_NOI = ("onestop-ha-noi", "dev-secret-ha-noi")
ADMIN_TOKEN = "test-admin-token"
FAST_TIMEOUTS = Timeouts(connect_s=0.5, read_s=0.3, total_s=1.0)
# A small, stable contract for tests: three required fields (loc, msg, type).
TEST_RESPONSE_MODEL = "common:FieldError"


def small_registry(
    *,
    base_url: str = "http://upstream.test",
    timeouts: Timeouts = FAST_TIMEOUTS,
    daily_quota: int | None = None,
    service_quotas: Mapping[str, int] | None = None,
) -> Registry:
    """Two providers, two consumers.

    ``population`` (``get_citizen``, ``verify_citizen``) and ``civil-registry``
    (``get_registration``) at ``base_url``; Thanh Hóa subscribes to ``population.*`` (with
    the given quotas), Hà Nội only to ``civil-registry.get_registration``.
    """
    population = ProviderSpec(
        name="population",
        base_url=base_url,
        timeouts=timeouts,
        operations=[
            OperationSpec(
                id="get_citizen",
                method="GET",
                path="/v1/citizens/{personal_id}",
                response_model=TEST_RESPONSE_MODEL,
            ),
            OperationSpec(
                id="verify_citizen",
                method="POST",
                path="/v1/citizens/verify",
                response_model=TEST_RESPONSE_MODEL,
            ),
        ],
    )
    civil = ProviderSpec(
        name="civil-registry",
        base_url=base_url,
        timeouts=timeouts,
        operations=[
            OperationSpec(
                id="get_registration", method="GET", path="/v1/registrations/{registration_id}"
            )
        ],
    )
    consumers = [
        ConsumerSpec(
            id=THANH_HOA[0],
            name="HTTT giải quyết TTHC tỉnh Thanh Hóa",
            province="038",
            client_id=THANH_HOA[0],
            client_secret=SecretStr(THANH_HOA[1]),
            subscriptions=["population.*"],
            daily_quota=daily_quota,
            service_quotas=dict(service_quotas or {}),
        ),
        ConsumerSpec(
            id=HA_NOI[0],
            name="HTTT giải quyết TTHC thành phố Hà Nội",
            province="001",
            client_id=HA_NOI[0],
            client_secret=SecretStr(HA_NOI[1]),
            subscriptions=["civil-registry.get_registration"],
        ),
    ]
    return Registry(providers=[population, civil], consumers=consumers)


def gateway_settings(state_dir: Path, registry: Registry, **gateway: Any) -> Settings:
    """Settings whose registry file (written under ``state_dir``) is ``registry``."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / "registry.yaml"
    path.write_text(render_registry(registry), encoding="utf-8")
    options: dict[str, Any] = {"admin_token": ADMIN_TOKEN, **gateway, "registry_path": path}
    return Settings(state_dir=state_dir, gateway=GatewaySettings(**options))


@asynccontextmanager
async def running_gateway(
    settings: Settings,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    *,
    metrics: CollectorRegistry | None = None,
    clock: Callable[[], datetime] | None = None,
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app with its lifespan running, and a client that talks to it in-process."""
    app = create_app(
        settings, transports=transports, registry=metrics or CollectorRegistry(), clock=clock
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gateway.test") as client:
            yield app, client


async def bearer(
    client: httpx.AsyncClient, credentials: tuple[str, str] = THANH_HOA
) -> dict[str, str]:
    """``Authorization`` header with a fresh token for ``credentials`` (client id, secret)."""
    response = await client.post(
        "/oauth2/token",
        data={
            "grant_type": "client_credentials",
            "client_id": credentials[0],
            "client_secret": credentials[1],
        },
    )
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def admin_headers(token: str = ADMIN_TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    """A TCP port nobody listens on right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serve_in_thread(app: Any, port: int | None = None) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server in a thread; yields its base URL."""
    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        # Uvicorn sets ``started`` once it listens; waiting on it is the server's own signal.
        while not server.started:
            if not thread.is_alive():
                raise RuntimeError("the test server did not start")
            thread.join(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)
