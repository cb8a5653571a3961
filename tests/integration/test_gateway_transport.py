"""The lean provider transport on real sockets: bodies, keep-alive, stale connections, errors."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from gateway.testing import free_port
from gateway.transport import LeanTransport

pytestmark = pytest.mark.integration

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def raw_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """A raw TCP server; yields its URL and the count of connections it accepted."""
    accepted: list[int] = []

    async def counted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        try:
            await handler(reader, writer)
        finally:
            writer.close()

    server = await asyncio.start_server(counted, "127.0.0.1", 0)
    async with server:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", accepted


def answering(*responses: bytes, close_after: bool = False) -> Handler:
    """Answer each request on a connection with the next response (the last one repeats)."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for i in range(100):
            try:
                await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            writer.write(responses[min(i, len(responses) - 1)])
            await writer.drain()
            if close_after:
                return

    return handle


OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"
CHUNKED = (
    b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n"
)
TO_CLOSE = b"HTTP/1.0 200 OK\r\n\r\nuntil the end"


async def _get(url: str, method: str = "GET") -> tuple[httpx.Response, httpx.Response]:
    async with httpx.AsyncClient(transport=LeanTransport(), base_url=url) as client:
        first = await client.request(method, "/a?x=1")
        second = await client.request(method, "/b")
    return first, second


async def test_content_length_bodies_reuse_one_connection() -> None:
    async with raw_server(answering(OK)) as (url, accepted):
        first, second = await _get(url)
    assert (first.status_code, first.json(), second.json()) == (200, {}, {})
    assert len(accepted) == 1


async def test_chunked_body_is_reassembled() -> None:
    async with raw_server(answering(CHUNKED)) as (url, _):
        first, _ = await _get(url)
    assert first.content == b"hello world"


async def test_body_read_to_close_ends_the_connection() -> None:
    async with raw_server(answering(TO_CLOSE, close_after=True)) as (url, accepted):
        first, second = await _get(url)
    assert first.content == second.content == b"until the end"
    assert len(accepted) == 2


async def test_stale_kept_alive_connection_is_retried_for_idempotent_requests() -> None:
    # The server answers once per connection and closes it without saying so.
    async with raw_server(answering(OK, close_after=True)) as (url, accepted):
        first, second = await _get(url)
    assert (first.status_code, second.status_code) == (200, 200)
    assert len(accepted) == 2


async def test_stale_connection_is_not_retried_for_post() -> None:
    async with (
        raw_server(answering(OK, close_after=True)) as (url, _),
        httpx.AsyncClient(transport=LeanTransport(), base_url=url) as client,
    ):
        assert (await client.post("/a", content=b"{}")).status_code == 200
        with pytest.raises(httpx.RemoteProtocolError):
            await client.post("/a", content=b"{}")


async def test_refused_connection_is_connect_error() -> None:
    async with httpx.AsyncClient(transport=LeanTransport()) as client:
        with pytest.raises(httpx.ConnectError):
            await client.get(f"http://127.0.0.1:{free_port()}/")


async def test_silent_provider_is_read_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # never answers; returns when the client gives up

    async with (
        raw_server(silent) as (url, _),
        httpx.AsyncClient(transport=LeanTransport(), base_url=url) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.get("/", timeout=httpx.Timeout(1.0, read=0.2))


async def test_truncated_body_is_a_protocol_error() -> None:
    truncated = b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nshort"
    async with (
        raw_server(answering(truncated, close_after=True)) as (url, _),
        httpx.AsyncClient(transport=LeanTransport(), base_url=url) as client,
    ):
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get("/")


async def test_only_plain_http_is_spoken() -> None:
    async with httpx.AsyncClient(transport=LeanTransport()) as client:
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("https://example.invalid/")
