"""Failures that belong to the network, on real sockets: timeouts, refusals, resets.

The gateway runs in-process; the national database is a real server on loopback — a uvicorn
app for slow answers, a closed port for refusals, and a raw asyncio TCP server that reads the
request and then resets the connection (SO_LINGER 0 → RST), before answering or mid-body.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from contracts.headers import ERROR_HEADER
from gateway.exchange_log import ExchangeQuery
from gateway.registry import Timeouts
from gateway.testing import (
    bearer,
    free_port,
    gateway_settings,
    running_gateway,
    serve_in_thread,
    small_registry,
)

pytestmark = pytest.mark.integration

VALID = {"loc": ["x"], "msg": "m", "type": "t"}
TIMEOUTS = Timeouts(connect_s=0.5, read_s=0.3, total_s=0.8)
PROVIDER_END_S = 3.0  # slow and trickle end this late: far past the timeouts, even under load


async def _citizen(request: Request) -> JSONResponse | StreamingResponse:
    kind = request.path_params["personal_id"]
    if kind == "slow":  # silent for longer than the read timeout
        await asyncio.sleep(PROVIDER_END_S)
    if kind == "trickle":  # a byte every 0.1 s: never idle for a read timeout, too long in total

        async def body() -> AsyncIterator[bytes]:
            for _ in range(round(PROVIDER_END_S / 0.1)):
                yield b" "
                await asyncio.sleep(0.1)

        return StreamingResponse(body(), media_type="application/json")
    return JSONResponse(VALID)


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    app = Starlette(routes=[Route("/v1/citizens/{personal_id}", _citizen)])
    with serve_in_thread(app) as url:
        yield url


async def _call(
    tmp_path: Path, base_url: str, personal_id: str, timeouts: Timeouts = TIMEOUTS
) -> tuple[httpx.Response, dict]:  # type: ignore[type-arg]
    settings = gateway_settings(
        tmp_path / "state", small_registry(base_url=base_url, timeouts=timeouts)
    )
    async with running_gateway(settings) as (app, client):
        response = await client.get(
            f"/population/v1/citizens/{personal_id}", headers=await bearer(client)
        )
        await app.state.runtime.log.flush()
        page = await app.state.runtime.log.query(ExchangeQuery())
    (record,) = page.items
    return response, record.model_dump()


async def test_real_upstream_answer_passes(tmp_path: Path, upstream: str) -> None:
    # The registry's default timeouts: a loaded machine must not turn a healthy answer into a 504.
    response, record = await _call(tmp_path, upstream, "038090001234", Timeouts())
    assert response.status_code == 200
    assert response.json() == VALID
    assert record["upstream_ms"] > 0
    assert record["request_out_ts"] <= record["response_in_ts"] <= record["response_out_ts"]


@pytest.mark.parametrize("personal_id", ["slow", "trickle"], ids=["read-timeout", "total-timeout"])
async def test_upstream_timeout_returns_504_with_code(
    tmp_path: Path, upstream: str, personal_id: str
) -> None:
    response, record = await _call(tmp_path, upstream, personal_id)
    assert response.status_code == 504
    assert response.json()["code"] == "upstream_timeout"
    assert response.headers[ERROR_HEADER] == "upstream_timeout"
    assert response.json()["exchange_id"] == response.headers["x-ndxp-exchange-id"]
    assert record["outcome"] == "upstream_timeout"
    assert record["upstream_ms"] < PROVIDER_END_S * 1000  # it gave up; did not wait for the end


async def test_refused_connection_returns_502_unreachable(tmp_path: Path) -> None:
    response, record = await _call(tmp_path, f"http://127.0.0.1:{free_port()}", "1")
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_unreachable"
    assert response.headers[ERROR_HEADER] == "upstream_unreachable"
    assert record["fault_code"] == "upstream_unreachable"


def _reset_server(*, mid_body: bool) -> object:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        if mid_body:
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b'content-length: 1000\r\n\r\n{"loc": ['
            )
            await writer.drain()
        sock = writer.get_extra_info("socket")
        # Linger on, timeout 0: close() sends RST instead of FIN.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        writer.close()

    return handle


@pytest.mark.parametrize("mid_body", [False, True], ids=["before-response", "mid-body"])
async def test_connection_reset_returns_502_upstream_reset(tmp_path: Path, mid_body: bool) -> None:
    server = await asyncio.start_server(_reset_server(mid_body=mid_body), "127.0.0.1", 0)  # type: ignore[arg-type]
    port = server.sockets[0].getsockname()[1]
    async with server:
        response, record = await _call(tmp_path, f"http://127.0.0.1:{port}", "1")
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_reset"
    assert response.headers[ERROR_HEADER] == "upstream_reset"
    assert record["outcome"] == "upstream_reset"
