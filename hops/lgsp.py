"""The provincial LGSP (*nền tảng tích hợp, chia sẻ dữ liệu cấp tỉnh*): the hop most provinces
put between their one-stop system and NDXP (FM-10; rows 43, 44, 48, 49: "qua trục LGSP -
NDXP thường xuyên phát sinh lỗi").

It speaks NDXP's own URLs — ``GET /population/v1/citizens/...`` and ``POST /oauth2/token``
reach the gateway unchanged — so a one-stop system moves onto it by changing its base URL.
Each call gets the LGSP's own exchange id (``X-LGSP-Exchange-Id``) and record; a failure the
LGSP makes itself (NDXP unreachable from it, a fault a scenario injects at ``hop: lgsp``) is
problem+json with a ``hop: "lgsp"`` member, never confused with the gateway's.
"""

from __future__ import annotations

import httpx
from fastapi import FastAPI, Request, Response
from prometheus_client import CollectorRegistry

from hops.app import create_hop_app, raw_path
from hops.hop import Carried, Hop, Trace, problem
from ndxp_config.settings import Settings

EXCHANGE_ID_HEADER = "X-LGSP-Exchange-Id"


async def _carry(hop: Hop, request: Request) -> Response:
    path = raw_path(request)
    trace = Trace.continue_from(request.headers.get("traceparent"))
    call = Carried("lgsp", request.method, path, trace)

    def refuse(status: int, code: str, message: str) -> Response:
        return problem(status, code, "The provincial LGSP failed", message, "lgsp")

    response = await hop.carry(request, call, path, refuse)
    response.headers[EXCHANGE_ID_HEADER] = call.exchange_id
    return response


def create_lgsp_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """The LGSP's app, forwarding to ``settings.lgsp.gateway_url`` (default: the gateway)."""
    return create_hop_app(
        "lgsp",
        settings,
        _carry,
        title="ndxp-sim provincial LGSP",
        transport=transport,
        registry=registry,
    )
