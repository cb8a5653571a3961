"""The gateway's own small endpoints: the token endpoint, ``/healthz`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from contracts.common import problem_responses
from contracts.gateway import GatewayHealth, TokenResponse
from gateway.auth import authorization, client_credentials
from gateway.errors import QuotaUnavailable
from gateway.metrics import QuotaSample
from gateway.quota_rules import quota_entries
from gateway.quotas import local_day
from gateway.runtime import RuntimeDep

router = APIRouter()

_TOKEN_FORM = {
    "application/x-www-form-urlencoded": {
        "schema": {
            "type": "object",
            "required": ["grant_type"],
            "properties": {
                "grant_type": {"type": "string", "enum": ["client_credentials"]},
                "client_id": {"type": "string", "examples": ["onestop-thanh-hoa"]},
                "client_secret": {"type": "string", "examples": ["dev-secret-thanh-hoa"]},
            },
        }
    }
}


@router.post(
    "/oauth2/token",
    tags=["identity"],
    summary="OAuth2 client-credentials token (RFC 6749 §4.4)",
    description=(
        "Exchange a consumer's client id and secret — form fields `client_id` and "
        "`client_secret`, or HTTP Basic — for a short-lived bearer token (an HS256 JWT). "
        "Send it as `Authorization: Bearer <token>` on every API call.\n\n"
        "    curl -s -d grant_type=client_credentials -d client_id=onestop-thanh-hoa \\\n"
        "         -d client_secret=dev-secret-thanh-hoa http://127.0.0.1:8000/oauth2/token"
    ),
    openapi_extra={"requestBody": {"required": True, "content": _TOKEN_FORM}},
    responses=problem_responses(400, 401),
)
async def issue_token(request: Request, runtime: RuntimeDep, response: Response) -> TokenResponse:
    given = authorization(request.headers)
    client_id, client_secret = client_credentials(await request.body(), given)
    consumer = runtime.auth.authenticate_client(client_id, client_secret)
    # RFC 6749 §5.1: token responses must not be cached.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Pragma"] = "no-cache"
    return runtime.auth.issue(consumer)


@router.get("/healthz", tags=["operations"], summary="Is the gateway itself up?")
async def healthz() -> GatewayHealth:
    return GatewayHealth()


@router.get(
    "/metrics",
    tags=["operations"],
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format."}},
)
async def metrics(runtime: RuntimeDep) -> Response:
    day = local_day(runtime.clock())
    try:
        entries = quota_entries(
            runtime.auth.consumers(),  # runtime-onboarded consumers too (gateway.consumers)
            await runtime.quotas.usage(day),
            await runtime.quotas.overrides(),
        )
    except QuotaUnavailable:
        entries = []  # the rest of the scrape (ndxp_quota_unmetered_total above all) still counts
    samples = [QuotaSample(e.consumer, e.policy, e.used, e.limit) for e in entries]
    runtime.metrics.count_log_dropped(runtime.log.dropped)
    body, content_type = runtime.metrics.exposition(samples)
    return Response(content=body, media_type=content_type)
