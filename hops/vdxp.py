"""VDXP as an X-Road-style route in front of the gateway, speaking PR-REST (FM-10, row 87:
"qua trục liên thông văn bản quốc gia VDXP hoặc cho phép kết nối qua cả NDXP và VDXP").

``/r1/{instance}/{class}/{member}/{subsystem}/{service}/...`` is mapped to the gateway's
``/{provider}/...`` (:mod:`contracts.xroad`). As on an X-Road security server:

- ``X-Road-Client`` is required (``INSTANCE/CLASS/MEMBER[/SUBSYSTEM]``; if sent more than
  once, the last one counts); ``X-Road-Id`` is echoed, or generated (a UUID) when missing;
- the answer carries ``X-Road-Client``, ``X-Road-Service``, ``X-Road-Id`` and
  ``X-Road-Request-Id`` (VDXP's own exchange id);
- the provider's answers — here the gateway's, errors included — pass through unchanged;
  errors VDXP raises itself carry ``X-Road-Error`` and ``{"type", "message", "detail"}``
  (``detail``: a UUID), spelled as X-Road up to 7.7 or from 7.8 (``vdxp.error_spelling``).

``POST /oauth2/token`` is carried unchanged too: X-Road would authenticate the client's
security server by its TLS certificate, NDXP authenticates each consumer by its token.
"""

from __future__ import annotations

import uuid

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry

from contracts.hops import OUTCOME_INVALID_REQUEST
from contracts.xroad import (
    CLIENT_HEADER,
    ERROR_HEADER,
    ID_HEADER,
    REQUEST_ID_HEADER,
    SERVICE_HEADER,
    PathError,
    Spelling,
    error_type,
    gateway_path,
    valid_client,
)
from hops.app import create_hop_app, raw_path
from hops.hop import Carried, Hop, Trace
from ndxp_config.settings import Settings

TOKEN_PATH = "/oauth2/token"
# The gateway's own failures as seen from VDXP (the provider side failing), in 7.7 spelling.
_FROM_GATEWAY = {
    "upstream_timeout": "Server.ServerProxy.ServiceFailed.IOError",
    "upstream_unreachable": "Server.ServerProxy.ServiceFailed.NetworkError",
}


def xroad_error(
    status: int, code: str, message: str, spelling: Spelling, headers: dict[str, str]
) -> Response:
    """An error VDXP raises itself: ``X-Road-Error`` and the X-Road JSON body."""
    sent = error_type(code, spelling)
    return JSONResponse(
        {"type": sent, "message": message, "detail": str(uuid.uuid4())},
        status_code=status,
        headers={**headers, ERROR_HEADER: sent},
    )


def _last(request: Request, name: str) -> str | None:
    values = request.headers.getlist(name)
    return values[-1].strip() if values else None


def _handler(settings: Settings):  # type: ignore[no-untyped-def]  # returns the hop's Handler
    instance, spelling = settings.vdxp.instance, settings.vdxp.error_spelling

    async def carry(hop: Hop, request: Request) -> Response:
        path = raw_path(request)
        trace = Trace.continue_from(request.headers.get("traceparent"))
        call = Carried("vdxp", request.method, path, trace)
        call.xroad_id = _last(request, ID_HEADER) or str(uuid.uuid4())
        client = _last(request, CLIENT_HEADER)
        echoed = {ID_HEADER: call.xroad_id, REQUEST_ID_HEADER: call.exchange_id}
        if client:
            echoed[CLIENT_HEADER] = client

        def refused(status: int, code: str, message: str) -> Response:
            call.outcome, call.detail = OUTCOME_INVALID_REQUEST, f"{code}: {message}"
            return xroad_error(status, code, message, spelling, echoed)

        if path == TOKEN_PATH:
            return await hop.carry(request, call, path, _gateway_failed(spelling, echoed))
        try:
            service, target = gateway_path(path, instance)
        except PathError as err:
            status = 400 if err.code.startswith(("Client.", "Server.ClientProxy.")) else 500
            return await hop.finish(call, refused(status, err.code, str(err)))
        if client is None:
            return await hop.finish(
                call, refused(400, "Client.MissingHeader", f"Header {CLIENT_HEADER} is missing")
            )
        if not valid_client(client):
            message = f"{CLIENT_HEADER} must be INSTANCE/CLASS/MEMBER[/SUBSYSTEM], not {client!r}"
            return await hop.finish(call, refused(400, "Client.InvalidClientIdentifier", message))
        echoed[SERVICE_HEADER] = service.service_id(instance)
        response = await hop.carry(request, call, target, _gateway_failed(spelling, echoed))
        for key, value in echoed.items():
            response.headers[key] = value
        return response

    return carry


def _gateway_failed(spelling: Spelling, headers: dict[str, str]):  # type: ignore[no-untyped-def]
    def refuse(status: int, code: str, message: str) -> Response:
        return xroad_error(500, _FROM_GATEWAY.get(code, "Server.ServerProxy.ServiceFailed"),
                           message, spelling, headers)  # fmt: skip

    return refuse


def create_vdxp_app(
    settings: Settings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    registry: CollectorRegistry | None = None,
) -> FastAPI:
    """VDXP's app, forwarding to ``settings.vdxp.gateway_url`` (default: the gateway)."""
    return create_hop_app(
        "vdxp",
        settings,
        _handler(settings),
        title="ndxp-sim VDXP (X-Road-style PR-REST route)",
        transport=transport,
        registry=registry,
    )
