"""Every error of the gateway's own endpoints is problem+json with a code."""

from __future__ import annotations

from pathlib import Path

from contracts.headers import ERROR_HEADER
from gateway.errors import Forbidden
from gateway.problems import problem_response
from gateway.testing import admin_headers, gateway_settings, running_gateway, small_registry


def test_problem_response_has_media_type_headers_and_exchange_id() -> None:
    response = problem_response(Forbidden("no"), exchange_id="e1")
    assert response.media_type == "application/problem+json"
    assert response.headers[ERROR_HEADER] == "forbidden"
    assert b'"exchange_id":"e1"' in response.body
    assert b'"code":"forbidden"' in response.body


async def test_request_validation_error_is_invalid_request_with_field_errors(
    tmp_path: Path,
) -> None:
    settings = gateway_settings(tmp_path / "state", small_registry())
    async with running_gateway(settings) as (_, client):
        response = await client.get("/admin/exchanges?limit=0", headers=admin_headers())
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_request"
    assert body["errors"][0]["loc"] == ["query", "limit"]
