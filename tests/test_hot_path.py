"""The exchange path is plain ASGI: consumer calls never enter FastAPI; the rest still does."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from gateway.app import GatewayApp
from gateway.server import TurnFlushed
from gateway.testing import bearer, gateway_settings, running_gateway, small_registry

CITIZEN = "/population/v1/citizens/038090001234"
VALID = {"loc": ["body"], "msg": "ok", "type": "t"}


async def test_consumer_calls_skip_fastapi_and_its_own_endpoints_do_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    through_fastapi: list[str] = []
    fastapi_call = GatewayApp.__mro__[1].__call__  # FastAPI.__call__

    async def spy(self: Any, scope: Scope, receive: Receive, send: Send) -> None:
        through_fastapi.append(scope["path"])
        await fastapi_call(self, scope, receive, send)

    monkeypatch.setattr(GatewayApp.__mro__[1], "__call__", spy)
    transport = httpx.MockTransport(lambda _: httpx.Response(200, json=VALID))
    settings = gateway_settings(tmp_path / "state", small_registry())
    async with running_gateway(settings, {"population": transport}) as (app, client):
        assert isinstance(app, GatewayApp)
        headers = await bearer(client)
        through_fastapi.clear()
        answered = await client.get(CITIZEN, headers=headers)
        unknown = await client.get("/population/v1/nothing", headers=headers)
        assert answered.status_code == 200
        assert unknown.status_code == 404
        assert through_fastapi == []  # both answered by the proxy alone
        assert (await client.get("/healthz")).status_code == 200
        refused = await client.delete("/admin/registry")  # reserved: the router's 405
        assert refused.status_code == 405
        assert refused.headers["x-ndxp-exchange-id"]
        assert through_fastapi == ["/healthz", "/admin/registry"]


async def test_log_lines_of_one_loop_turn_are_flushed_together() -> None:
    flushes: list[str] = []

    class Out(io.StringIO):
        def flush(self) -> None:
            flushes.append(self.getvalue())

    out = Out()
    stream = TurnFlushed(out)
    stream.write("one\n")
    stream.flush()
    stream.write("two\n")
    stream.flush()
    assert flushes == []  # not yet: the turn is not over
    await asyncio.sleep(0)
    assert flushes == ["one\ntwo\n"]
    stream.write("three\n")
    await asyncio.to_thread(stream.flush)  # off the loop: at once
    assert flushes[-1] == "one\ntwo\nthree\n"
