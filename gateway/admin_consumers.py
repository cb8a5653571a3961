"""The admin API for consumers (``/admin/consumers``): the connection kit of each consumer.

``GET /admin/consumers/{id}/kit`` answers the consumer's connection kit as a zip
(:mod:`gateway.kit`): credentials, base URLs, the contracts as seen through this gateway, a
Postman collection and environment, the code table and the province's sample ids. Behind the
admin credential, like the rest of ``/admin``: ops hand the kit to the province.
"""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from contracts.common import problem_responses
from gateway.admin import require_admin
from gateway.errors import NotFound
from gateway.kit import KitConsumer, build_kit, fetch_samples, zip_kit
from gateway.registry import ConsumerSpec
from gateway.runtime import Runtime, RuntimeDep

ZIP_MEDIA_TYPE = "application/zip"

router = APIRouter(
    prefix="/admin/consumers",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=problem_responses(400, 401, 404),
)


@router.get(
    "/{consumer_id}/kit",
    summary="The consumer's connection kit (zip)",
    response_class=Response,
    responses={
        200: {
            "content": {ZIP_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "README (vi, en), credentials, OpenAPI through the gateway, Postman "
            "collection and environment, code table, the province's sample ids.",
        }
    },
)
async def get_kit(runtime: RuntimeDep, request: Request, consumer_id: str) -> Response:
    consumer = _consumer(runtime, consumer_id)
    kit_consumer = KitConsumer(
        id=consumer.id,
        name=consumer.name,
        province=consumer.province,
        client_id=consumer.client_id,
        client_secret=consumer.client_secret.get_secret_value(),
        subscriptions=list(consumer.subscriptions),
        daily_quota=consumer.daily_quota,
        service_quotas=dict(consumer.service_quotas),
    )
    return await kit_response(runtime, request, kit_consumer)


async def kit_response(runtime: Runtime, request: Request, consumer: KitConsumer) -> Response:
    """The zip of ``consumer``'s kit, with the URL this request reached the gateway at."""
    routes = [
        (r.provider, r.operation_id, r.method, r.path_template)
        for r in runtime.router.routes
        if subscribed_to(consumer, r.service)
    ]
    samples = await fetch_samples(runtime.clients, {r[0] for r in routes}, consumer.province)
    gateway_url = str(request.base_url).rstrip("/")
    files = build_kit(consumer, gateway_url=gateway_url, routes=routes, samples=samples)
    root = f"ndxp-kit-{consumer.id}"
    return Response(
        content=zip_kit(files, root),
        media_type=ZIP_MEDIA_TYPE,
        headers={
            "Content-Disposition": f'attachment; filename="{root}.zip"',
            "Cache-Control": "no-store",  # it holds a client secret
        },
    )


def subscribed_to(consumer: KitConsumer, service: str) -> bool:
    provider = service.partition(".")[0]
    return service in consumer.subscriptions or f"{provider}.*" in consumer.subscriptions


def _consumer(runtime: Runtime, consumer_id: str) -> ConsumerSpec:
    spec = runtime.registry.consumer(consumer_id)
    if spec is None:
        raise NotFound(f"no consumer {consumer_id!r} in the registry")
    return spec


__all__ = ["kit_response", "router", "subscribed_to"]
