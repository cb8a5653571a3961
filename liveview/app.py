"""``create_app(settings)``: the trainers' live view, its own small app and process.

It listens to the gateway's live feed (:mod:`liveview.feed`), keeps rolling figures
(:mod:`liveview.stats`) and fans every finished exchange out to the open pages as server-sent
events (:mod:`liveview.hub`). The page (``static/``: plain HTML, CSS and JavaScript, nothing
fetched from the internet) draws the topology and the exchanges, shows quotas, health and the
failure modes, switches scenarios through the gateway's admin API (:mod:`liveview.admin_proxy`)
and runs a flow hop by hop (:mod:`liveview.runner`).

Routes: ``/`` the page; ``/api/topology``; ``/api/snapshot`` (figures and each province's and
database's last exchanges); ``/api/events`` (the stream: ``exchange``, ``stats`` once a
second, ``dropped`` when this browser fell behind); ``/api/admin/...`` (admin pass-through);
``/api/report`` (the current run's report); ``/api/flows`` (the flow runner); ``/healthz``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.staticfiles import StaticFiles

from contracts.exchange import ExchangeRecord
from liveview import admin_proxy
from liveview.admin_proxy import problem
from liveview.feed import FeedReceiver, feed_address
from liveview.hub import Hub
from liveview.runner import FlowRunner, RunnerError
from liveview.stats import LiveStats
from liveview.topology import topology
from mock_services.scenarios import SCENARIOS_DIR, ScenarioError, load_catalogue
from ndxp_config.settings import Settings, get_settings

STATIC_DIR = Path(__file__).parent / "static"
STATS_EVERY_S = 1.0


class FlowStart(BaseModel):
    flow: str = Field(examples=["business_sync"])
    province: str = Field(examples=["Quảng Bình", "044"])
    seed: int | None = None


def _rule_modes(settings: Settings) -> dict[str, str]:
    """Scenario rule id → failure mode, over the whole catalogue."""
    try:
        catalogue = load_catalogue(settings.scenarios_dir or SCENARIOS_DIR)
    except ScenarioError:
        return {}  # the kinds' own failure modes still apply
    return {
        rule.id: rule.failure_mode
        for scenario in catalogue.values()
        for rule in scenario.rules
        if rule.failure_mode
    }


def create_app(settings: Settings | None = None) -> FastAPI:
    """The live view app; binds the feed's socket when it starts."""
    settings = settings or get_settings()
    shape = topology(settings)
    provinces = {p["consumer"]: p["code"] for p in shape["provinces"]}
    hub = Hub()
    stats = LiveStats(provinces, _rule_modes(settings))

    def on_record(record: ExchangeRecord, _raw: bytes) -> None:
        hub.publish("exchange", json.dumps(stats.add(record), separators=(",", ":")))

    receiver = FeedReceiver(feed_address(settings), on_record)
    runner = FlowRunner(settings)

    def counters() -> dict[str, Any]:
        return {
            "received": receiver.received,
            "malformed": receiver.malformed,
            "browsers": len(hub.subscribers),
        }

    async def broadcast_stats() -> None:
        while True:
            await asyncio.sleep(STATS_EVERY_S)
            if hub.subscribers:
                summary = {**stats.summary(), "feed": counters()}
                hub.publish("stats", json.dumps(summary, separators=(",", ":")))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        receiver.start()
        ticker = asyncio.create_task(broadcast_stats())
        async with httpx.AsyncClient(base_url=settings.gateway.url) as gateway:
            app.state.gateway = gateway
            try:
                yield
            finally:
                ticker.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await ticker
                await runner.close()
                receiver.close()

    app = FastAPI(title="ndxp-sim live view", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.hub, app.state.stats, app.state.receiver = hub, stats, receiver
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    async def page() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz")
    async def healthz() -> dict[str, Any]:
        return {"status": "ok", "feed": receiver.address, **counters()}

    @app.get("/api/topology")
    async def get_topology() -> dict[str, Any]:
        return {**shape, "gateway_url": settings.gateway.url}

    @app.get("/api/snapshot")
    async def snapshot() -> dict[str, Any]:
        return {**stats.snapshot(), "feed": counters()}

    @app.get("/api/events")
    async def events() -> StreamingResponse:
        subscription = hub.subscribe()
        return StreamingResponse(
            hub.stream(subscription),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    @app.api_route("/api/admin/{path:path}", methods=["GET", "PUT", "DELETE"])
    async def admin(request: Request, path: str) -> Response:
        return await admin_proxy.forward(request.app.state.gateway, request, path)

    @app.get("/api/report")
    async def report(request: Request) -> Response:
        return await _report(request, settings)

    @app.post("/api/flows")
    async def start_flow(start: FlowStart) -> Response:
        try:
            return JSONResponse(await runner.start(start.flow, start.province, start.seed))
        except RunnerError as exc:
            return problem(400, "invalid_request", str(exc))

    @app.post("/api/flows/{run_id}/next")
    async def next_hop(run_id: str) -> Response:
        try:
            return JSONResponse(await runner.next(run_id))
        except RunnerError as exc:
            return problem(404, "not_found", str(exc))

    @app.get("/api/flows/{run_id}")
    async def flow_view(run_id: str, wait: bool = False) -> Response:
        try:
            return JSONResponse(await runner.view(run_id, wait))
        except RunnerError as exc:
            return problem(404, "not_found", str(exc))

    return app


async def _report(request: Request, settings: Settings) -> Response:
    """The current run's report (``ndxp-sim report``), read through the admin API."""
    from ndxp_sim.report_output import ReportSourceError, report_from_gateway

    authorization = request.headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token:
        return problem(401, "unauthenticated", "type the admin token in the page first")
    gateway: httpx.AsyncClient = request.app.state.gateway
    try:
        check = await gateway.get("/admin/runs", headers={"authorization": authorization})
    except httpx.HTTPError as exc:
        return problem(502, "gateway_unreachable", f"the gateway did not answer: {exc!r}")
    if check.status_code != 200:
        return Response(check.content, status_code=check.status_code)
    if not check.json().get("items"):
        return problem(404, "not_found", "no run yet: switch a scenario first")
    try:
        found = await asyncio.to_thread(report_from_gateway, settings.gateway.url, token)
    except ReportSourceError as exc:
        return problem(502, "report_unavailable", str(exc))
    return Response(found.model_dump_json(), media_type="application/json")


__all__ = ["STATIC_DIR", "create_app"]
