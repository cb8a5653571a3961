"""The app around a hop: its lifespan (gateway client, log), health, metrics, log read-back,
fault admin, and one catch-all route for the calls it carries.

Routes every hop serves besides the calls: ``GET /healthz``; ``GET /metrics`` (Prometheus);
``GET /_hop/exchanges?since=&until=&trace_id=`` (the hop's records, gateway admin token);
``GET/PUT/DELETE /_faults/scenario`` and ``PUT /_faults/clock`` (the mocks' admin routes,
same token, so the gateway's scenario switch reaches the hop as it reaches a mock).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from contracts.hops import HopName
from hops.hop import Hop, HopFaults, problem
from hops.log import HopLog
from hops.metrics import HopMetrics
from mock_services.fault_admin import admin_router
from ndxp_config.settings import HopSettings, Settings

Handler = Callable[[Hop, Request], Awaitable[Response]]
_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]


def hop_settings(settings: Settings, name: HopName) -> HopSettings:
    return settings.lgsp if name == "lgsp" else settings.vdxp


def create_hop_app(
    name: HopName,
    settings: Settings,
    handler: Handler,
    *,
    title: str,
    transport: httpx.AsyncBaseTransport | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """A hop's app; ``transport`` (tests) replaces the network to the gateway."""
    own = hop_settings(settings, name)
    timeout = own.timeout_s * settings.time_scale
    metrics = HopMetrics(registry or CollectorRegistry())
    faults = HopFaults(name, settings.time_scale)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        log = HopLog(settings.state_dir / f"{name}.sqlite3")
        async with httpx.AsyncClient(
            base_url=own.gateway_url or settings.gateway.url,
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            follow_redirects=False,  # as X-Road: a hop never follows a redirect
        ) as gateway:
            app.state.hop = Hop(name, gateway, log, metrics, faults)
            try:
                yield
            finally:
                log.close()

    app = FastAPI(title=title, lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    app.state.settings = settings  # the admin routes read the admin token here
    app.state.fault_engine = faults
    app.include_router(admin_router)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok", "hop": name}

    @app.get("/metrics", include_in_schema=False)
    async def prometheus() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/_hop/exchanges", include_in_schema=False)
    async def exchanges(
        request: Request,
        since: datetime | None = None,
        until: datetime | None = None,
        trace_id: str | None = None,
        limit: int = 10_000,
    ) -> Response:
        expected = f"Bearer {settings.gateway.admin_token.get_secret_value()}"
        given = request.headers.get("authorization", "")
        if not secrets.compare_digest(given.encode(), expected.encode()):
            return problem(401, "unauthenticated", "Unauthenticated",
                           "Send the admin token as a Bearer credential.", name)  # fmt: skip
        hop: Hop = request.app.state.hop
        records = hop.log.read(since=since, until=until, trace_id=trace_id, limit=limit)
        return JSONResponse([record.model_dump(mode="json") for record in records])

    @app.api_route("/{path:path}", methods=_METHODS, include_in_schema=False)
    async def carry(request: Request) -> Response:
        hop: Hop = request.app.state.hop
        return await handler(hop, request)

    return app


def raw_path(request: Request) -> str:
    """The path as sent, undecoded (the gateway checks its segments itself)."""
    raw: bytes = request.scope.get("raw_path") or request.scope["path"].encode()
    return raw.decode("latin-1").partition("?")[0]
