"""RFC 9457 problem details for every error the gateway's own endpoints raise.

The exchange path renders its errors itself (it has an exchange id to add); these handlers
cover the token endpoint, the admin API and the framework's own refusals, so that no answer
of the gateway is ever anything but ``application/problem+json`` with a stable ``code``.
"""

from __future__ import annotations

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
)

_log = structlog.get_logger("ndxp.gateway")
_HTTP_CODES: dict[int, type[GatewayError]] = {404: NotFound, 405: MethodNotAllowed}


def problem_response(err: GatewayError, exchange_id: str | None = None) -> Response:
    """The problem+json response for ``err``, with its headers (``X-NDXP-Error`` included)."""
    body = err.problem(exchange_id=exchange_id).model_dump_json(exclude_none=True)
    return Response(
        content=body,
        status_code=err.status_code,
        media_type=PROBLEM_MEDIA_TYPE,
        headers=err.response_headers(),
    )


async def _gateway_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, GatewayError)
    return problem_response(exc)


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = [
        FieldError(loc=list(e.get("loc", ())), msg=str(e.get("msg", "")), type=str(e.get("type")))
        for e in exc.errors()
    ]
    return problem_response(
        InvalidRequest(
            "the request breaks the gateway API's contract",
            extensions={"errors": [e.model_dump() for e in errors]},
        )
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    cls = _HTTP_CODES.get(exc.status_code)
    if cls is None:
        cls = InvalidRequest if exc.status_code < 500 else GatewayInternalError
    return problem_response(cls(str(exc.detail), headers=dict(exc.headers or {})))


async def _bug(request: Request, exc: Exception) -> Response:
    _log.error("gateway_bug", path=request.url.path, exc_info=exc)
    return problem_response(GatewayInternalError("unexpected error in the gateway; see its log"))


def install_problem_handlers(app: FastAPI) -> None:
    """Make every error of ``app`` a problem+json response."""
    app.add_exception_handler(GatewayError, _gateway_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _bug)
