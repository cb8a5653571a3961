"""The lean provider transport on real sockets: bodies, keep-alive, stale connections, errors."""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from gateway.testing import free_port
from gateway.transport import LeanTransport, MalformedResponse, ResponseTooLarge

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


async def test_only_http_and_https_are_spoken() -> None:
    async with httpx.AsyncClient(transport=LeanTransport()) as client:
        with pytest.raises(httpx.UnsupportedProtocol):
            await client.get("ftp://example.invalid/")


# -- the exception boundary: each misbehaviour raises one exact httpx exception ----------------


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with RST instead of FIN (SO_LINGER 0)."""
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


def replying(*chunks: bytes, then: str = "close") -> Handler:
    """Read one request head, write ``chunks``, then ``close`` (FIN), ``reset`` or ``hang``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        for chunk in chunks:
            writer.write(chunk)
            await writer.drain()
        if then == "reset":
            _reset(writer)
        elif then == "hang":
            await reader.read()  # until the client gives up

    return handle


HEAD_200 = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
MISBEHAVIOURS: dict[str, tuple[Handler, type[httpx.HTTPError]]] = {
    "content_length_letters": (
        replying(HEAD_200 + b"content-length: abc\r\n\r\n{}"),
        MalformedResponse,
    ),
    "content_length_negative": (
        replying(HEAD_200 + b"content-length: -1\r\n\r\n{}"),
        MalformedResponse,
    ),
    "content_length_underscore": (
        replying(HEAD_200 + b"content-length: 1_0\r\n\r\n0123456789"),
        MalformedResponse,
    ),
    "content_length_conflicting": (
        replying(HEAD_200 + b"content-length: 2\r\ncontent-length: 3\r\n\r\n{} "),
        MalformedResponse,
    ),
    "content_length_and_chunked": (
        replying(HEAD_200 + b"content-length: 2\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}\r\n"),
        MalformedResponse,
    ),
    "chunk_size_line_over_64_kib": (
        replying(HEAD_200 + b"transfer-encoding: chunked\r\n\r\n" + b"0" * 100_000 + b"2\r\n{}"),
        MalformedResponse,
    ),
    "chunk_size_not_hex": (
        replying(HEAD_200 + b"transfer-encoding: chunked\r\n\r\nzz\r\n{}\r\n0\r\n\r\n"),
        MalformedResponse,
    ),
    "head_over_64_kib": (
        replying(HEAD_200 + b"x-big: " + b"a" * 100_000 + b"\r\n\r\n"),
        MalformedResponse,
    ),
    "status_line_garbage": (replying(b"HTTP/1.1 2x0 OK\r\n\r\n"), MalformedResponse),
    "unrequested_upgrade": (
        replying(b"HTTP/1.1 101 Switching Protocols\r\nupgrade: h2c\r\n\r\n", then="hang"),
        MalformedResponse,
    ),
    "endless_interim_responses": (
        replying(b"HTTP/1.1 103 Early Hints\r\n\r\n" * 20, then="hang"),
        MalformedResponse,
    ),
    "body_over_the_size_cap": (
        replying(HEAD_200 + b"content-length: 5000\r\n\r\n" + b" " * 5000),
        ResponseTooLarge,
    ),
    "fin_mid_body": (
        replying(HEAD_200 + b"content-length: 100\r\n\r\nshort"),
        httpx.RemoteProtocolError,
    ),
    "reset_mid_body": (
        replying(HEAD_200 + b"content-length: 100\r\n\r\nshort", then="reset"),
        httpx.ReadError,
    ),
    "reset_before_the_response": (replying(then="reset"), httpx.ReadError),
    "fin_before_the_response": (replying(), httpx.RemoteProtocolError),
    "silence": (replying(then="hang"), httpx.ReadTimeout),
    "stall_mid_body": (
        replying(HEAD_200 + b"content-length: 100\r\n\r\nshort", then="hang"),
        httpx.ReadTimeout,
    ),
}


@pytest.mark.parametrize("case", list(MISBEHAVIOURS))
async def test_each_misbehaviour_leaves_the_transport_as_one_httpx_exception(case: str) -> None:
    handler, expected = MISBEHAVIOURS[case]
    transport = LeanTransport(max_response_bytes=4096)
    async with (
        raw_server(handler) as (url, _),
        httpx.AsyncClient(transport=transport, base_url=url) as client,
    ):
        with pytest.raises(httpx.HTTPError) as caught:
            await client.get("/", timeout=httpx.Timeout(5.0, read=0.3))
    assert type(caught.value) is expected, repr(caught.value)


async def test_tls_handshake_with_a_plain_server_is_a_connect_error() -> None:
    async def plain(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()

    async with (
        raw_server(plain) as (url, _),
        httpx.AsyncClient(transport=LeanTransport()) as client,
    ):
        with pytest.raises(httpx.HTTPError) as caught:
            await client.get(url.replace("http://", "https://"))
    assert type(caught.value) is httpx.ConnectError


async def test_reset_while_the_request_is_written_is_a_write_error() -> None:
    async def reset_at_head(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        _reset(writer)  # the body (megabytes) is still being written

    # A tiny receive window at the provider: the client must wait for it to drain.
    server = await asyncio.start_server(reset_at_head, "127.0.0.1", 0)
    for sock in server.sockets:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    async with server, httpx.AsyncClient(transport=LeanTransport()) as client:
        port = server.sockets[0].getsockname()[1]
        with pytest.raises(httpx.HTTPError) as caught:
            await client.post(f"http://127.0.0.1:{port}/", content=b"x" * 8_000_000)
    assert type(caught.value) is httpx.WriteError


async def test_pool_at_its_cap_waits_then_raises_pool_timeout() -> None:
    arrived = asyncio.Event()

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        arrived.set()
        await reader.read()  # never answers

    async with (
        raw_server(hold) as (url, accepted),
        httpx.AsyncClient(transport=LeanTransport(max_connections=1), base_url=url) as client,
    ):
        hanging = asyncio.create_task(client.get("/", timeout=httpx.Timeout(30.0)))
        await asyncio.wait_for(arrived.wait(), 30)
        with pytest.raises(httpx.PoolTimeout):
            await client.get("/", timeout=httpx.Timeout(30.0, pool=0.2))
        assert len(accepted) == 1
        hanging.cancel()
        with pytest.raises(asyncio.CancelledError):
            await hanging


# -- connections carry one exchange's bytes only ------------------------------------------------


def echoing(*, before: bytes = b"", after: bytes = b"") -> Handler:
    """Answer each request with its own path as the body; ``before``/``after`` it, extra bytes."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except asyncio.IncompleteReadError:
                return
            path = head.split(b" ", 2)[1]
            ok = HEAD_200 + b"content-length: %d\r\n\r\n%s" % (len(path), path)
            writer.write(before + ok + after)
            await writer.drain()

    return handle


async def test_early_hints_are_skipped_and_the_connection_stays_in_step() -> None:
    hints = b"HTTP/1.1 103 Early Hints\r\nlink: </style.css>; rel=preload\r\n\r\n"
    async with raw_server(echoing(before=hints)) as (url, accepted):
        first, second = await _get(url)
    assert (first.status_code, first.content) == (200, b"/a?x=1")
    assert (second.status_code, second.content) == (200, b"/b")
    assert len(accepted) == 1


async def test_bytes_after_a_response_spoil_its_connection() -> None:
    unsolicited = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"
    async with raw_server(echoing(after=unsolicited)) as (url, accepted):
        first, second = await _get(url)
    assert (first.content, second.content) == (b"/a?x=1", b"/b")
    assert len(accepted) == 2


async def test_unsolicited_bytes_on_an_idle_connection_close_it_at_once() -> None:
    send_408 = asyncio.Event()
    closed_by_client = asyncio.Event()

    async def answer_then_408(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(OK)
        await send_408.wait()
        writer.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        try:
            await reader.read()  # returns (or raises) once the client drops the connection
        finally:
            closed_by_client.set()

    async with (
        raw_server(answer_then_408) as (url, accepted),
        httpx.AsyncClient(transport=LeanTransport(), base_url=url) as client,
    ):
        assert (await client.get("/")).status_code == 200
        send_408.set()
        await asyncio.wait_for(closed_by_client.wait(), 30)
        second = await client.get("/")
    assert second.status_code == 200
    assert len(accepted) == 2


async def test_read_timeout_runs_between_bytes_not_over_the_body() -> None:
    async def trickle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(HEAD_200 + b"content-length: 8\r\n\r\n")
        for _ in range(8):  # 8 x 0.1 s: longer than the read timeout, never idle that long
            await asyncio.sleep(0.1)
            writer.write(b" ")
            await writer.drain()

    async with (
        raw_server(trickle) as (url, _),
        httpx.AsyncClient(transport=LeanTransport(), base_url=url) as client,
    ):
        response = await client.get("/", timeout=httpx.Timeout(30.0, read=0.5))
    assert response.content == b" " * 8
