"""A mock's 405 lists in ``Allow`` exactly the documented methods of the path asked for."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI

from mock_services.apps import MOCK_FACTORIES
from ndxp_config.settings import Settings


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("OPTIONS", "/v1/citizens/verify", "POST"),  # concrete path, not {personal_id}'s GET
        # GET matches /v1/citizens/{personal_id} too, but the concrete path wins (was a 422)
        ("GET", "/v1/citizens/verify", "POST"),
        ("GET", "/v2/citizens/verify", "POST"),
        ("DELETE", "/v1/citizens/038057004904", "GET"),
        ("PUT", "/v1/households/verify", "POST"),
    ],
)
async def test_method_not_allowed_lists_the_documented_methods_of_that_path(
    settings: Settings,
    client_for: Callable[[FastAPI], httpx.AsyncClient],
    method: str,
    path: str,
    allow: str,
) -> None:
    async with client_for(MOCK_FACTORIES["population"](settings)) as client:
        answer = await client.request(method, path)
    assert answer.status_code == 405
    assert answer.headers["Allow"] == allow
    assert answer.json()["code"] == "method_not_allowed"
    assert answer.json()["title"] == "Method not allowed"
