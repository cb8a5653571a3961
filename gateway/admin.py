"""The admin API (``/admin``): registry, quotas at runtime, the exchange log, health.

Behind the admin credential, ``Authorization: Bearer <settings.gateway.admin_token>``; a
missing or wrong one is 401 ``unauthenticated``. Ops change quotas here while the gateway
runs: an override takes effect on the next request in every worker (it is applied inside the
quota store's atomic acquire).
"""

from __future__ import annotations

import asyncio
import hmac
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import StreamingResponse

from contracts.common import WireDatetime, problem_responses
from contracts.exchange import ExchangePage, ExchangeRecord
from contracts.gateway import (
    ConsumerView,
    HealthReport,
    OperationView,
    ProviderHealth,
    ProviderView,
    QuotaLimitUpdate,
    QuotaReport,
    RegistryView,
    TimeoutsView,
)
from gateway.auth import authorization
from gateway.errors import GatewayError, InvalidRequest, NotFound, Unauthenticated
from gateway.exchange_log import ExchangeQuery
from gateway.quota_rules import consumer_key, quota_entries, service_key, split_key
from gateway.quotas import local_day, seconds_until_local_midnight
from gateway.registry import ConsumerSpec
from gateway.runtime import Runtime, RuntimeDep
from gateway.upstream import map_httpx_errors

HEALTH_TIMEOUT_S = 2.0
_EXPORT_TYPES = {"jsonl": "application/x-ndjson", "csv": "text/csv; charset=utf-8"}


def require_admin(runtime: RuntimeDep, request: Request) -> None:
    """Refuse anyone without the admin bearer token (compared in constant time)."""
    scheme, _, token = (authorization(request.headers) or "").partition(" ")
    expected = runtime.settings.gateway.admin_token.get_secret_value()
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.encode(), expected.encode()):
        raise Unauthenticated("the admin API needs Authorization: Bearer <admin token>")


router = APIRouter(
    prefix="/admin",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=problem_responses(400, 401, 404),
)


@router.get("/registry", summary="The registry in force (no secrets)")
async def get_registry(runtime: RuntimeDep) -> RegistryView:
    registry, settings = runtime.registry, runtime.settings
    providers = []
    for provider in registry.providers:
        operations = [
            OperationView(
                service=route.service,
                method=route.method,
                path=route.path_template,
                response_model=route.response_model,
                timeouts=TimeoutsView(**route.timeouts.model_dump()),
            )
            for route in runtime.router.routes
            if route.provider == provider.name
        ]
        providers.append(
            ProviderView(
                name=provider.name,
                base_url=registry.base_url(provider, settings),
                timeouts=TimeoutsView(**provider.timeouts.model_dump()),
                operations=operations,
            )
        )
    consumers = [
        ConsumerView(**c.model_dump(exclude={"client_secret"})) for c in registry.consumers
    ]
    return RegistryView(providers=providers, consumers=consumers)


@router.get("/quotas", summary="Today's usage, limits and remaining requests")
async def get_quotas(
    runtime: RuntimeDep,
    consumer: Annotated[str | None, Query(description="Only this consumer.")] = None,
) -> QuotaReport:
    consumers = [_consumer(runtime, consumer)] if consumer else runtime.auth.consumers()
    return await _report(runtime, consumers)


@router.put("/quotas/{consumer}", summary="Set or clear a consumer's daily quota")
async def put_consumer_quota(
    runtime: RuntimeDep, consumer: str, update: QuotaLimitUpdate
) -> QuotaReport:
    spec = _consumer(runtime, consumer)
    await runtime.quotas.set_override(consumer_key(spec.id), update.limit)
    return await _report(runtime, [spec])


@router.put(
    "/quotas/{consumer}/{service}",
    summary="Set or clear a consumer's daily quota for one service",
)
async def put_service_quota(
    runtime: RuntimeDep, consumer: str, service: str, update: QuotaLimitUpdate
) -> QuotaReport:
    spec = _consumer(runtime, consumer)
    route = runtime.router.by_service.get(service)
    if route is None:
        raise NotFound(f"no service {service!r} in the registry")
    # A v2 operation's quota is its v1's counter: setting either sets the one they share.
    await runtime.quotas.set_override(service_key(spec.id, route.quota_service), update.limit)
    return await _report(runtime, [spec])


@router.post("/quotas/{consumer}/reset", summary="Zero a consumer's usage for today")
async def reset_quota(
    runtime: RuntimeDep,
    consumer: str,
    service: Annotated[str | None, Query(description="Only this service's counter.")] = None,
) -> QuotaReport:
    spec = _consumer(runtime, consumer)
    day = local_day(runtime.clock())
    if service is not None:
        route = runtime.router.by_service.get(service)
        keys = [service_key(spec.id, service if route is None else route.quota_service)]
    else:
        keys = [k for k in await runtime.quotas.usage(day) if split_key(k)[0] == spec.id]
    for key in keys:
        await runtime.quotas.reset(day, key)
    return await _report(runtime, [spec])


ConsumerQ = Annotated[str | None, Query(examples=["onestop-thanh-hoa"])]
ProviderQ = Annotated[str | None, Query(examples=["population"])]
ServiceQ = Annotated[str | None, Query(examples=["population.get_citizen"])]
OutcomeQ = Annotated[str | None, Query(examples=["ok", "quota_exceeded", "upstream_timeout"])]
SinceQ = Annotated[
    WireDatetime | None, Query(description="Inclusive, on request_in_ts (with offset).")
]
UntilQ = Annotated[
    WireDatetime | None, Query(description="Exclusive, on request_in_ts (with offset).")
]


def _filters(
    consumer: ConsumerQ = None,
    provider: ProviderQ = None,
    service: ServiceQ = None,
    outcome: OutcomeQ = None,
    since: SinceQ = None,
    until: UntilQ = None,
) -> dict[str, Any]:
    """The exchange filters shared by the query and the export."""
    for name, value in (("since", since), ("until", until)):
        if value is not None and value.tzinfo is None:
            raise InvalidRequest(f"{name} needs a UTC offset, e.g. 2024-07-01T00:00:00+07:00")
    return {
        "consumer": consumer,
        "provider": provider,
        "service": service,
        "outcome": outcome,
        "since": since,
        "until": until,
    }


FiltersDep = Annotated[dict[str, Any], Depends(_filters)]


@router.get("/exchanges", summary="Exchange records, newest first")
async def list_exchanges(
    runtime: RuntimeDep,
    filters: FiltersDep,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    # The store's offsets are 64-bit; 2**53 - 1 also compares exactly as a JSON double.
    offset: Annotated[int, Query(ge=0, le=2**53 - 1)] = 0,
) -> ExchangePage:
    return await runtime.log.query(ExchangeQuery(**filters, limit=limit, offset=offset))


@router.get(
    "/exchanges/export",
    summary="Every matching record, oldest first, streamed as JSON Lines or CSV",
    response_class=StreamingResponse,
    responses={
        200: {
            "content": {"application/x-ndjson": {}, "text/csv": {}},
            "description": "One record per line (CSV: a header row; lists joined with ';').",
        }
    },
)
async def export_exchanges(
    runtime: RuntimeDep,
    filters: FiltersDep,
    format: Annotated[Literal["jsonl", "csv"], Query()] = "jsonl",
) -> StreamingResponse:
    return StreamingResponse(
        runtime.log.export(ExchangeQuery(**filters), format),
        media_type=_EXPORT_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="exchanges.{format}"'},
    )


@router.get("/exchanges/{exchange_id}", summary="One exchange record")
async def get_exchange(runtime: RuntimeDep, exchange_id: str) -> ExchangeRecord:
    record = await runtime.log.get(exchange_id)
    if record is None:
        raise NotFound(f"no exchange {exchange_id!r} (records are written within a moment)")
    return record


@router.get("/health", summary="Each national database's /healthz, seen from the gateway")
async def health(runtime: RuntimeDep) -> HealthReport:
    names = list(runtime.clients)
    results = await asyncio.gather(*(_probe(runtime, name) for name in names))
    providers = dict(zip(names, results, strict=True))
    ok = all(p.status == "up" for p in providers.values())
    return HealthReport(
        status="ok" if ok else "degraded",
        providers=providers,
        exchange_log_dropped=runtime.log.dropped,
    )


async def _probe(runtime: Runtime, name: str) -> ProviderHealth:
    started = time.perf_counter()
    try:
        with map_httpx_errors(name, HEALTH_TIMEOUT_S):
            async with asyncio.timeout(HEALTH_TIMEOUT_S):
                response = await runtime.clients[name].get("/healthz", timeout=HEALTH_TIMEOUT_S)
    except GatewayError as err:
        return ProviderHealth(status="down", detail=f"{err.code}: {err.detail}")
    latency_ms = round((time.perf_counter() - started) * 1000, 3)
    return ProviderHealth(
        status="up" if response.status_code == 200 else "down",
        status_code=response.status_code,
        latency_ms=latency_ms,
    )


def _consumer(runtime: Runtime, consumer_id: str) -> ConsumerSpec:
    spec = runtime.auth.consumer(consumer_id)  # the registry's and those onboarded at runtime
    if spec is None:
        raise NotFound(f"no consumer {consumer_id!r}")
    return spec


async def _report(runtime: Runtime, consumers: list[ConsumerSpec]) -> QuotaReport:
    now = runtime.clock()
    day = local_day(now)
    usage = await runtime.quotas.usage(day)
    overrides = await runtime.quotas.overrides()
    return QuotaReport(
        day=day,
        resets_in_s=seconds_until_local_midnight(now),
        items=quota_entries(consumers, usage, overrides),
    )
