"""``create_app(settings)``: the NDXP gateway as one FastAPI app.

Start-up order matters: the registry is loaded and validated when the app is *created*, so a
bad registry stops ``ndxp-sim up`` with a message instead of failing the first request. The
lifespan then opens the quota store, starts the exchange log's writer and opens one HTTP
client per provider; on shutdown it closes them in reverse, flushing the exchange log so no
record is lost.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime

import httpx
from fastapi import FastAPI
from prometheus_client import CollectorRegistry
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.routing import Route as StarletteRoute
from starlette.types import Receive, Scope, Send

from contracts.common import CONTRACT_VERSION
from gateway import admin, admin_consumers, admin_scenarios, endpoints
from gateway.auth import Authenticator
from gateway.consumers import open_consumers
from gateway.contract_check import ContractChecker
from gateway.docs import install_docs
from gateway.edge import EdgeMiddleware
from gateway.errors import GatewayError, GatewayInternalError, MethodNotAllowed, NotFound
from gateway.exchange import log_line
from gateway.exchange_log import open_exchange_log
from gateway.kit_codes import code_table, render_markdown
from gateway.metrics import GatewayMetrics
from gateway.problems import install_problem_handlers, problem_response
from gateway.proxy import Proxy
from gateway.quotas import open_quota_store
from gateway.record_feed import RecordFeed
from gateway.registry import load_registry
from gateway.routing import Router
from gateway.runs import RunStore
from gateway.runtime import Runtime
from gateway.scenario_gate import ScenarioGate
from gateway.upstream import Upstream, httpx_timeout
from ndxp_config.settings import Settings, get_settings

# First path segments that belong to the gateway itself, never to a consumer call.
RESERVED = frozenset({"admin", "oauth2", "metrics", "healthz", "docs", "redoc", "openapi.json"})
_PROXY_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]

DESCRIPTION = """\
The NDXP gateway (*Nền tảng tích hợp, chia sẻ dữ liệu quốc gia*) of ndxp-sim: it routes calls
of provincial one-stop systems (*HTTT giải quyết TTHC cấp tỉnh*) to the national databases,
with tokens, access rights, daily quotas, timeouts, an exchange log and metrics.

## Calling a national database through the gateway

1. Get a token: `POST /oauth2/token` with your client id and secret (client credentials).
2. Call `/{provider}{operation path}` with `Authorization: Bearer <token>`, e.g.
   `GET /population/v1/citizens/038090001234` reaches the population database's
   `GET /v1/citizens/{personal_id}`. The operations are those of each provider's published
   contract (`contracts/openapi/<provider>.yaml`); `GET /admin/registry` lists them.
   Only registered operations are routed (another method at an operation's path: 405
   `method_not_allowed` with `Allow`; anything else: 404 `unknown_service`), and only those
   your system subscribes to (403 `forbidden`).

Every answer to a province's call, and every error, carries `X-NDXP-Exchange-Id` (quote it to
ops). Answers to admitted requests — 2xx, a provider's own errors, the gateway's 502/503/504 —
carry `RateLimit-Policy` and `RateLimit` (draft-ietf-httpapi-ratelimit-headers); a spent daily
quota is 429 `quota_exceeded` with `Retry-After` (quotas reset at local midnight,
Asia/Ho_Chi_Minh); refusals before the quota is counted carry neither. A provider response
that breaks its contract is passed on, flagged in `X-NDXP-Contract-Violations`.

## Errors

Errors are RFC 9457 `application/problem+json` with a stable `code` and the `exchange_id`.
Errors the gateway makes carry `X-NDXP-Error: <code>`; a provider's own errors are passed on
unchanged, without it — so "NDXP refused me" and "the national database failed" never look
alike. Every code a province can receive (generated from `gateway.errors` and
`contracts.problems`):

"""

TAGS = [
    {"name": "identity", "description": "OAuth2 client credentials for provincial systems."},
    {"name": "admin", "description": "Ops: registry, quotas, exchange log, health (admin token)."},
    {"name": "operations", "description": "Liveness and Prometheus metrics."},
]


class GatewayApp(FastAPI):
    """FastAPI for the gateway's own endpoints; a consumer call goes to the proxy before it.

    The exchange path is plain ASGI (:class:`gateway.proxy.Proxy`): a request whose first
    path segment is not one of ``RESERVED`` never builds FastAPI's or Starlette's request,
    response, routing or middleware objects. What the middleware would do for it — the edge's
    bounds (:mod:`gateway.edge`) — the proxy does itself. Anything else (the admin API, the
    token endpoint, docs, ``/metrics``, a path the catch-all route cannot match) goes through
    FastAPI as before. Any method but CONNECT (a tunnel, never an exchange: 405 from FastAPI)
    reaches the proxy: its router answers a method the path does not take with 405 and that
    path's ``Allow``, like the mocks.
    """

    proxy: Proxy | None = None  # set by the lifespan
    freeze_gc = False  # a server process: gc.freeze() once started (gateway.server)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        proxy = self.proxy
        if proxy is not None and scope["type"] == "http" and scope["method"] != "CONNECT":
            path: str = scope["path"]
            if path[:1] == "/" and "\n" not in path and path.split("/", 2)[1] not in RESERVED:
                scope["app"] = self
                await proxy(scope, receive, send)
                return
        await super().__call__(scope, receive, send)


def create_app(
    settings: Settings | None = None,
    *,
    transports: Mapping[str, httpx.AsyncBaseTransport] | None = None,
    registry: CollectorRegistry | None = None,
    clock: Callable[[], datetime] | None = None,
) -> GatewayApp:
    """The gateway app.

    Args:
        settings: defaults to :func:`ndxp_config.settings.get_settings` (the environment).
        transports: per provider name, a transport to use instead of the network (tests).
        registry: the Prometheus registry for the metrics (ignored in multiprocess mode).
        clock: what time it is for the daily quotas (tests cross local midnight with it).

    Raises:
        gateway.registry.RegistryError: the registry file is invalid (the message names
            the field).
    """
    settings = settings or get_settings()
    gw_registry = load_registry(settings)
    router = Router(gw_registry, settings)
    auth = Authenticator(
        gw_registry,
        secret=settings.gateway.jwt_secret.get_secret_value(),
        ttl_s=settings.gateway.token_ttl_s,
    )
    metrics = GatewayMetrics(registry)

    @asynccontextmanager
    async def lifespan(app: GatewayApp) -> AsyncIterator[None]:
        settings.state_dir.mkdir(parents=True, exist_ok=True)
        quotas = open_quota_store(
            settings.gateway.quota_store_url,
            settings.state_dir,
            failure_policy=settings.gateway.quota_failure_policy,
            on_unmetered=metrics.count_unmetered,
        )
        log = open_exchange_log(
            settings.gateway.exchange_log_url, settings.state_dir, settings.gateway.journal
        )
        await log.start()
        upstream = Upstream.open(gw_registry, settings, transports)
        runtime = Runtime(
            settings=settings,
            registry=gw_registry,
            router=router,
            auth=auth,
            metrics=metrics,
            contracts=ContractChecker(),
            quotas=quotas,
            log=log,
            clients=upstream.clients,
            timeouts={r.service: httpx_timeout(r.timeouts) for r in router.routes},
            runs=RunStore(settings.state_dir / "runs.db"),
            upstream=upstream,
            gate=ScenarioGate(settings.time_scale),
        )
        if clock is not None:
            runtime.clock = clock
        # Where each finished exchange goes, in this order (append, don't replace).
        runtime.observers += [
            log.submit,
            lambda _: metrics.count_log_dropped(log.dropped),
            metrics.observe,
            log_line(gw_registry.consumers),
        ]
        feed = None
        if settings.live.feed:  # the trainers' live view listens (never waited on)
            feed = RecordFeed(settings.live.feed, on_drop=metrics.live_feed_dropped.inc)
            runtime.observers.append(feed)
        app.state.runtime = runtime
        app.state.consumers = open_consumers(runtime)  # onboarding: gateway.consumers
        app.state.proxy = app.proxy = Proxy(runtime)
        if app.freeze_gc:
            # What start-up built lives as long as the process: out of the collector's
            # sight, so that collections only walk what requests allocate.
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            app.proxy = None
            await upstream.aclose()
            app.state.consumers.close()
            await log.close()
            await quotas.close()
            metrics.close()
            if feed is not None:
                feed.close()

    app = GatewayApp(
        title="NDXP gateway (ndxp-sim)",
        version=CONTRACT_VERSION,
        description=DESCRIPTION + render_markdown(code_table()),
        openapi_tags=TAGS,
        lifespan=lifespan,
        docs_url=None,  # Swagger UI from the package, not a CDN: gateway.docs
        redoc_url=None,
    )
    install_docs(app)
    install_problem_handlers(app)
    app.add_middleware(EdgeMiddleware, max_bytes=settings.gateway.max_request_bytes, refuse=_refuse)
    app.include_router(endpoints.router)
    app.include_router(admin.router)
    app.include_router(admin_scenarios.router)
    app.include_router(admin_consumers.router)
    # Last: what no endpoint of the gateway's own answers. Consumer calls reach the proxy
    # before FastAPI (GatewayApp.__call__); this route answers the rest of the paths the
    # catch-all matches, under the reserved segments, as exchanges too.
    app.router.routes.append(
        StarletteRoute("/{path:path}", _unanswered, methods=_PROXY_METHODS, include_in_schema=False)
    )
    return app


async def _unanswered(request: Request) -> Response:
    path: str = request.scope["path"]
    if path.split("/", 2)[1] not in RESERVED:
        # The proxy takes these before FastAPI once the lifespan started; not before.
        return _refuse(request.scope, GatewayInternalError("the gateway is not started"))
    # The gateway's own endpoints are never exchanges, but a refusal here is: a known
    # path with another method is 405 with Allow, as the router would have answered.
    allowed = _allowed_methods(request.app, request.app.router.routes[:-1], request.scope)
    if allowed:
        refusal = MethodNotAllowed(
            f"{request.method} {path}", headers={"Allow": ", ".join(sorted(allowed))}
        )
        return _refuse(request.scope, refusal)
    return _refuse(request.scope, NotFound(f"no gateway endpoint at {path}"))


def _allowed_methods(app: FastAPI, routes: list[BaseRoute], scope: Scope) -> list[str]:
    """The methods of the most specific endpoints at this path (the ``Allow`` of a 405).

    A literal segment wins over a parameter, as in the proxy's router and the mocks:
    ``/admin/quotas/{consumer}/reset`` takes POST only, though the PUT of
    ``/admin/quotas/{consumer}/{service}`` matches the same path. Routers included in the app
    do not show their templates, so the most specific one is found among the published
    paths (``app.openapi()``), then narrowed to what the routes really answer.
    """
    allowed = [
        method
        for method in _PROXY_METHODS
        if any(r.matches({**scope, "method": method})[0] is Match.FULL for r in routes)
    ]
    segments = scope["path"].split("/")
    best: tuple[int, set[str]] | None = None
    for template, item in app.openapi().get("paths", {}).items():
        parts = template.split("/")
        if len(parts) != len(segments) or not all(
            p == s or (p.startswith("{") and s) for p, s in zip(parts, segments, strict=True)
        ):
            continue
        literals = sum(not p.startswith("{") for p in parts)
        methods = {m.upper() for m in item if m.upper() in _PROXY_METHODS}
        if "GET" in methods:
            methods.add("HEAD")
        if best is None or literals > best[0]:
            best = (literals, methods)
        elif literals == best[0]:
            best[1].update(methods)
    narrowed = [m for m in allowed if best is not None and m in best[1]]
    return narrowed or allowed


def _refuse(scope: Scope, err: GatewayError) -> Response:
    """Answer a request refused before the proxy, and record it as an exchange."""
    proxy: Proxy | None = getattr(scope["app"].state, "proxy", None)
    return problem_response(err) if proxy is None else proxy.refuse(scope, err)
