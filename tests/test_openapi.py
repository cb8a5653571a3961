"""The gateway's committed OpenAPI equals the code and documents its problems."""

from __future__ import annotations

from openapi_spec_validator import validate

from gateway.openapi import OPENAPI_PATH, main, openapi_document, render


def test_committed_gateway_openapi_equals_the_code() -> None:
    assert OPENAPI_PATH.read_text(encoding="utf-8") == render(), (
        "run `python -m gateway.openapi --write`"
    )


def test_document_is_valid_openapi_31() -> None:
    doc = openapi_document()
    validate(doc)
    assert doc["openapi"] == "3.1.0"


def test_own_endpoints_are_documented_with_problem_responses() -> None:
    doc = openapi_document()
    assert {"/oauth2/token", "/healthz", "/metrics", "/admin/quotas/{consumer}/{service}"} <= set(
        doc["paths"]
    )
    responses = doc["paths"]["/admin/registry"]["get"]["responses"]
    assert "application/problem+json" in responses["401"]["content"]
    assert "Problem" in doc["components"]["schemas"]
    form = doc["paths"]["/oauth2/token"]["post"]["requestBody"]["content"]
    assert "application/x-www-form-urlencoded" in form


def test_description_documents_the_proxied_routes_and_error_codes() -> None:
    description = openapi_document()["info"]["description"]
    assert "/population/v1/citizens/038090001234" in description
    for code in ("unknown_service", "quota_exceeded", "upstream_timeout", "X-NDXP-Error"):
        assert code in description


def test_cli_entry_refuses_unknown_arguments() -> None:
    assert main(["--nope"]) == 2
