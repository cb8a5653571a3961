"""The published contracts: OpenAPI 3.1 documents generated from the mock apps' routes and the
``contracts`` models, with a real example per operation, committed under
``contracts/openapi/`` and held equal to the code by a test.

Examples are computed by the same functions the handlers call, with the default seed, so every
documented example is what the mock really answers (try the ``curl`` line in each operation).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

from contracts.catalogue import contract_name
from contracts.common import install_problem_schema
from contracts.published import render


@dataclass(frozen=True)
class Example:
    """One documented call of an operation and the response the mock gives it."""

    summary: str
    path_params: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, Any] = field(default_factory=dict)
    body: BaseModel | None = None
    response: BaseModel | None = None  # None: a binary download


ExamplesFactory = Callable[[int], Mapping[str, Example]]


def openapi_document(app: FastAPI, version: int | None = None) -> dict[str, Any]:
    """An app's OpenAPI 3.1 document: FastAPI's, plus the Problem schema and, for a mock, the
    examples (the gateway's document is built here too). ``version``: only the routes under
    ``/v{version}/`` (a published contract); None: every route (what the app serves)."""
    if version is None and app.openapi_schema:
        return app.openapi_schema
    routes = app.routes if version is None else app.state.contract_routers[version].routes
    doc = get_openapi(
        title=app.title if version in (None, 1) else f"{app.title}, contract v{version}",
        version=app.version if version in (None, 1) else f"{version}.0.0",
        openapi_version="3.1.0",
        description=app.description,
        routes=routes,
        tags=app.openapi_tags,
    )
    install_problem_schema(doc)
    factory: ExamplesFactory | None = getattr(app.state, "examples", None)
    if factory is not None:
        base_url = app.state.settings.mocks.url(app.state.provider)
        _add_examples(doc, factory(app.state.seed), base_url)
    if version is None:
        app.openapi_schema = doc
    return doc


def contract_versions(app: FastAPI) -> list[int]:
    """The contract versions an app serves (see :func:`mock_services.service.add_version`)."""
    return sorted(app.state.contract_routers)


def _add_examples(doc: dict[str, Any], examples: Mapping[str, Example], base_url: str) -> None:
    for path, item in doc["paths"].items():
        for method, operation in item.items():
            example = examples.get(operation.get("operationId", ""))
            if example is None:
                continue
            for param in operation.get("parameters", []):
                source = example.path_params if param["in"] == "path" else example.query
                if param["name"] in source:
                    param["example"] = source[param["name"]]
            body = example.body.model_dump(mode="json") if example.body else None
            if body is not None:
                content = operation["requestBody"]["content"]["application/json"]
                content["example"] = body
            success = next(code for code in operation["responses"] if code.startswith("2"))
            if example.response is not None:
                content = operation["responses"][success].setdefault("content", {})
                content.setdefault("application/json", {})["example"] = example.response.model_dump(
                    mode="json"
                )
            url = base_url + path.format_map(dict(example.path_params))
            if example.query:
                url += "?" + "&".join(f"{k}={v}" for k, v in example.query.items())
            curl = ["curl", "-s"]
            if method.upper() != "GET":
                curl += ["-X", method.upper(), "-H", "Content-Type: application/json"]
                curl += ["-d", json.dumps(body, ensure_ascii=False)]
            curl.append(url)
            operation["description"] = (
                operation.get("description", "").rstrip()
                + f"\n\nExample ({example.summary}):\n\n    {shlex.join(curl)}"
            ).lstrip()


def mock_apps() -> dict[str, FastAPI]:
    """Every mock app, built with default settings (the published examples use the default seed)."""
    from mock_services.apps import MOCK_FACTORIES
    from ndxp_config.settings import MockSettings, Settings

    settings = Settings(mocks=MockSettings())
    return {name: factory(settings) for name, factory in MOCK_FACTORIES.items()}


def published_documents() -> dict[str, str]:
    """File name → YAML text of every published contract of the mock databases: one document
    per contract version (``population.yaml`` for v1, ``population.v2.yaml`` beside it)."""
    return {
        f"{contract_name(name, version)}.yaml": render(openapi_document(app, version))
        for name, app in mock_apps().items()
        for version in contract_versions(app)
    }
