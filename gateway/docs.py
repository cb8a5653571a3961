"""The gateway's own documentation: ``/openapi.json`` and Swagger UI at ``/docs``, offline.

``/openapi.json`` is the document committed as ``contracts/openapi/gateway.yaml``: FastAPI's,
plus the RFC 9457 ``Problem`` schema every error response refers to, and with validation
errors documented as what is answered — 400 ``invalid_request`` problem+json — instead of
FastAPI's 422 ``HTTPValidationError``. Swagger UI's assets come from the ``swagger_ui_bundle``
package (Swagger UI 5, which reads OpenAPI 3.1), not a CDN: ``/docs`` works on a machine
without internet, as most provincial test rooms are.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.staticfiles import StaticFiles
from starlette.requests import Request
from starlette.responses import HTMLResponse
from swagger_ui_bundle import swagger_ui_path  # type: ignore[import-untyped]  # no py.typed

from contracts.common import PROBLEM_MEDIA_TYPE, install_problem_schema

DOCS_URL = "/docs"
ASSETS_URL = "/docs/assets"
_FASTAPI_VALIDATION = ("HTTPValidationError", "ValidationError")


def gateway_openapi(app: FastAPI) -> dict[str, Any]:
    """The gateway's OpenAPI 3.1 document, as served and as committed."""
    if app.openapi_schema:
        return app.openapi_schema
    doc = get_openapi(
        title=app.title,
        version=app.version,
        openapi_version="3.1.0",
        description=app.description,
        routes=app.routes,
        tags=app.openapi_tags,
    )
    install_problem_schema(doc)
    problem = {"$ref": "#/components/schemas/Problem"}
    for item in doc.get("paths", {}).values():
        for operation in item.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault(
                    "400",
                    {
                        "description": "Bad request (invalid_request): the input breaks this "
                        "API's schema; `errors` names each field",
                        "content": {PROBLEM_MEDIA_TYPE: {"schema": problem}},
                    },
                )
                operation["responses"] = dict(sorted(responses.items()))
    schemas = doc.get("components", {}).get("schemas", {})
    for name in _FASTAPI_VALIDATION:
        schemas.pop(name, None)
    app.openapi_schema = doc
    return doc


def install_docs(app: FastAPI) -> None:
    """Serve ``/openapi.json`` (:func:`gateway_openapi`) and Swagger UI from the package.

    The app must be created with ``docs_url=None, redoc_url=None`` (ReDoc would load from a
    CDN too; it is not offered).
    """
    app.openapi = lambda: gateway_openapi(app)  # type: ignore[method-assign]
    app.mount(ASSETS_URL, StaticFiles(directory=swagger_ui_path), name="swagger-ui-assets")

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=app.openapi_url or "/openapi.json",
            title=f"{app.title} — Swagger UI",
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS_URL}/favicon-32x32.png",
        )

    app.add_api_route(DOCS_URL, docs, methods=["GET"], include_in_schema=False)
