"""The page's way to the gateway's admin API: a narrow pass-through, token supplied by the user.

The page never holds the admin token in its code: the trainer types it, the page keeps it in
memory and sends it as ``Authorization`` with each call to ``/api/admin/...``; this module
passes that header on to the gateway's ``/admin/...`` unchanged and answers with what the
gateway answered (401 for a wrong token). Only what the page needs is reachable: quotas,
health, the scenario catalogue, switch and fault clock, runs and single exchange records.
"""

from __future__ import annotations

import re

import httpx
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

TIMEOUT_S = 30.0  # a scenario switch waits on every mock (5 s each, in parallel)
_READ = re.compile(
    r"^(quotas|health|scenarios|scenarios/[a-z0-9-]+|scenario|runs|runs/[\w.-]+"
    r"|exchanges|exchanges/[0-9a-f]{1,64}|registry)$"
)
_WRITE = {("PUT", "scenario"), ("DELETE", "scenario"), ("PUT", "clock")}
_PASSED_HEADERS = ("content-type", "ratelimit", "ratelimit-policy", "retry-after")


def problem(status: int, code: str, detail: str) -> JSONResponse:
    """An RFC 9457 problem of the live view itself."""
    return JSONResponse(
        {"type": "about:blank", "title": code, "status": status, "code": code, "detail": detail},
        status_code=status,
        media_type="application/problem+json",
    )


def allowed(method: str, path: str) -> bool:
    if method == "GET":
        return bool(_READ.fullmatch(path))
    return (method, path) in _WRITE


async def forward(client: httpx.AsyncClient, request: Request, path: str) -> Response:
    """Pass one admin call on to the gateway; its answer comes back as it is."""
    if not allowed(request.method, path):
        return problem(404, "not_found", f"{request.method} /admin/{path} is not open to the page")
    authorization = request.headers.get("authorization")
    if not authorization:
        return problem(401, "unauthenticated", "type the admin token in the page first")
    try:
        upstream = await client.request(
            request.method,
            f"/admin/{path}",
            params=request.query_params,
            content=await request.body() or None,
            headers={
                "authorization": authorization,
                "content-type": request.headers.get("content-type", "application/json"),
            },
            timeout=TIMEOUT_S,
        )
    except httpx.HTTPError as exc:
        return problem(502, "gateway_unreachable", f"the gateway did not answer: {exc!r}")
    headers = {k: v for k, v in upstream.headers.items() if k.lower() in _PASSED_HEADERS}
    return Response(upstream.content, status_code=upstream.status_code, headers=headers)


__all__ = ["allowed", "forward", "problem"]
