"""The admin API for consumers (``/admin/consumers``): onboarding at runtime and the kit.

Register (``pending``) → approve (credentials issued) → rotate the secret (grace period) →
suspend / reactivate / revoke; subscriptions and the sandbox window changed in place; all in
the gateway's consumer store (:mod:`gateway.consumers`), applied to the next request in every
worker.

``GET /admin/consumers/{id}/kit`` answers the consumer's connection kit as a zip
(:mod:`gateway.kit`): credentials, base URLs, the contracts as seen through this gateway, a
Postman collection and environment, the code table and the province's sample ids. Behind the
admin credential, like the rest of ``/admin``: ops hand the kit to the province.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response

from contracts.common import problem_responses
from contracts.consumers import (
    ConsumerList,
    ConsumerRecord,
    ConsumerRegistration,
    IssuedCredentials,
    SandboxWindowUpdate,
    SecretRotation,
    SubscriptionsUpdate,
)
from gateway.admin import require_admin
from gateway.consumers import ConsumerDirectory
from gateway.errors import ConsumerNotActive, InvalidRequest
from gateway.kit import KitConsumer, build_kit, fetch_samples, zip_kit
from gateway.runtime import Runtime, RuntimeDep

ZIP_MEDIA_TYPE = "application/zip"

router = APIRouter(
    prefix="/admin/consumers",
    tags=["admin"],
    dependencies=[Depends(require_admin)],
    responses=problem_responses(400, 401, 404),
)


def _directory(request: Request) -> ConsumerDirectory:
    directory: ConsumerDirectory = request.app.state.consumers
    return directory


DirectoryDep = Annotated[ConsumerDirectory, Depends(_directory)]


@router.get("", summary="Every consumer: registry seeds and runtime registrations")
async def list_consumers(directory: DirectoryDep) -> ConsumerList:
    return ConsumerList(items=[c.record() for c in directory.all()])


@router.post(
    "",
    status_code=201,
    summary="Register a consumer (pending: no credentials until approved)",
    responses=problem_responses(409),
)
async def register_consumer(
    runtime: RuntimeDep, directory: DirectoryDep, new: ConsumerRegistration
) -> ConsumerRecord:
    shared = runtime.registry.shared_quotas()
    for service in new.service_quotas:
        if service in shared:  # counted against another service's counter: a limit here is moot
            raise InvalidRequest(
                f"service_quotas: {service} counts against {shared[service]}; set the quota there"
            )
    return directory.register(new, runtime.registry.services()).record()


@router.get("/{consumer_id}", summary="One consumer")
async def get_consumer(directory: DirectoryDep, consumer_id: str) -> ConsumerRecord:
    return directory.require(consumer_id).record()


@router.post(
    "/{consumer_id}/approve",
    summary="Approve a pending consumer: issue its credentials (its kit is then available)",
    responses=problem_responses(409),
)
async def approve_consumer(directory: DirectoryDep, consumer_id: str) -> IssuedCredentials:
    consumer, secret = directory.approve(consumer_id)
    return IssuedCredentials(
        consumer=consumer.record(), client_id=consumer.spec.client_id, client_secret=secret
    )


@router.post(
    "/{consumer_id}/rotate-secret",
    summary="Issue a new secret; the old one stays valid for grace_s seconds",
    responses=problem_responses(409),
)
async def rotate_secret(
    directory: DirectoryDep, consumer_id: str, rotation: SecretRotation
) -> IssuedCredentials:
    consumer, secret = directory.rotate(consumer_id, rotation.grace_s)
    return IssuedCredentials(
        consumer=consumer.record(), client_id=consumer.spec.client_id, client_secret=secret
    )


@router.post(
    "/{consumer_id}/suspend",
    summary="Suspend: tokens and calls refused with 401 consumer_suspended",
    responses=problem_responses(409),
)
async def suspend_consumer(directory: DirectoryDep, consumer_id: str) -> ConsumerRecord:
    return directory.set_status(consumer_id, "suspended").record()


@router.post(
    "/{consumer_id}/reactivate",
    summary="Lift a suspension",
    responses=problem_responses(409),
)
async def reactivate_consumer(directory: DirectoryDep, consumer_id: str) -> ConsumerRecord:
    return directory.set_status(consumer_id, "active").record()


@router.post(
    "/{consumer_id}/revoke",
    summary="Revoke for good: refused with 401 consumer_revoked",
    responses=problem_responses(409),
)
async def revoke_consumer(directory: DirectoryDep, consumer_id: str) -> ConsumerRecord:
    return directory.set_status(consumer_id, "revoked").record()


@router.put("/{consumer_id}/subscriptions", summary="Replace the consumer's subscriptions")
async def put_subscriptions(
    runtime: RuntimeDep, directory: DirectoryDep, consumer_id: str, update: SubscriptionsUpdate
) -> ConsumerRecord:
    services = runtime.registry.services()
    return directory.set_subscriptions(consumer_id, update.subscriptions, services).record()


@router.put(
    "/{consumer_id}/sandbox-window",
    summary="Set or lift the sandbox window (calls outside: 403 sandbox_window_closed)",
)
async def put_sandbox_window(
    directory: DirectoryDep, consumer_id: str, update: SandboxWindowUpdate
) -> ConsumerRecord:
    return directory.set_sandbox_window(consumer_id, update.sandbox_window).record()


@router.get(
    "/{consumer_id}/kit",
    summary="The consumer's connection kit (zip); only for an active consumer",
    response_class=Response,
    responses={
        200: {
            "content": {ZIP_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}},
            "description": "README (vi, en), credentials, OpenAPI through the gateway, Postman "
            "collection and environment, code table, the province's sample ids.",
        },
        **problem_responses(409),
    },
)
async def get_kit(
    runtime: RuntimeDep, directory: DirectoryDep, request: Request, consumer_id: str
) -> Response:
    consumer = directory.require(consumer_id)
    secret = consumer.current_secret
    if consumer.status != "active" or secret is None:
        raise ConsumerNotActive(f"{consumer_id} is {consumer.status}: no kit until it is active")
    spec = consumer.spec
    kit_consumer = KitConsumer(
        id=spec.id,
        name=spec.name,
        province=spec.province,
        client_id=spec.client_id,
        client_secret=secret,
        subscriptions=list(spec.subscriptions),
        daily_quota=spec.daily_quota,
        service_quotas=dict(spec.service_quotas),
        sandbox_window=consumer.sandbox_window.description if consumer.sandbox_window else None,
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


__all__ = ["kit_response", "router", "subscribed_to"]
