"""RFC 9457 problem details for every error the gateway's own endpoints raise.

The exchange path renders its errors itself (it has an exchange id to add); these handlers
cover the token endpoint, the admin API and the framework's own refusals, so that no answer
of the gateway is ever anything but ``application/problem+json`` with a stable ``code``.

A refusal that is not an answer of one of the gateway's endpoints — the router's 404 and 405
(with ``Allow``), and the edge's refusals of a body (:mod:`gateway.edge`), even when FastAPI
wrapped them while parsing — is recorded as an exchange, through ``Proxy.refuse``.
"""

from __future__ import annotations

import re

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import Response

from contracts.common import PROBLEM_MEDIA_TYPE, FieldError
from gateway.errors import (
    GatewayError,
    GatewayInternalError,
    InvalidRequest,
    MethodNotAllowed,
    NotFound,
    UnknownService,
)
from gateway.protocol import EDGE_ERROR

_log = structlog.get_logger("ndxp.gateway")
_HTTP_CODES: dict[int, type[GatewayError]] = {404: NotFound, 405: MethodNotAllowed}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def problem_response(err: GatewayError, exchange_id: str | None = None) -> Response:
    """The problem+json response for ``err``, with its headers (``X-NDXP-Error`` included)."""
    body = err.problem(exchange_id=exchange_id).model_dump_json(exclude_none=True)
    return Response(
        content=body,
        status_code=err.status_code,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=err.response_headers(),
    )


def _recorded(request: Request, err: GatewayError) -> Response:
    proxy = getattr(request.app.state, "proxy", None)  # None before the lifespan started
    return problem_response(err) if proxy is None else proxy.refuse(request.scope, err)


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    # Every refusal, the token endpoint's and the admin API's too, is an exchange with an id
    # a caller can quote to ops.
    return _recorded(request, exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(loc=list(e.get("loc", ())), msg=str(e.get("msg", "")), type=str(e.get("type")))
        for e in exc.errors()
    ]
    return _recorded(
        request,
        InvalidRequest(
            "the request breaks the gateway API's contract",
            extensions={"errors": [e.model_dump() for e in errors]},
        ),
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    edge: GatewayError | None = request.scope.get(EDGE_ERROR)
    if edge is not None:  # the framework wrapped the edge's refusal of the body
        return _recorded(request, edge)
    cls = _HTTP_CODES.get(exc.status_code)
    if cls is None:
        cls = InvalidRequest if exc.status_code < 500 else GatewayInternalError
    headers = dict(exc.headers or {})
    if cls not in (NotFound, MethodNotAllowed):
        return _recorded(request, cls(str(exc.detail), headers=headers))
    # The router's own refusal: no endpoint answered, so it is an exchange like any other.
    if "Allow" in headers:  # Starlette lists a set: make it stable
        headers["Allow"] = ", ".join(sorted(headers["Allow"].split(", ")))
    err: GatewayError = cls(f"nothing answers {request.method} at this path", headers=headers)
    path: str = request.scope["path"]
    if not path.startswith("/"):  # OPTIONS *, or an authority (CONNECT)
        err = InvalidRequest("the request target must be a path (origin-form, RFC 9112 §3.2.1)")
    elif _CONTROL.search(path):  # %0a decoded: the catch-all cannot match it
        # As the proxy's router answers any other encoded control character.
        err = UnknownService("the path has an encoded control character")
    return _recorded(request, err)


async def _bug(request: Request, exc: Exception) -> Response:
    _log.error("gateway_bug", path=request.url.path, exc_info=exc)
    return _recorded(request, GatewayInternalError("unexpected error in the gateway; see its log"))


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json response."""
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _bug)
