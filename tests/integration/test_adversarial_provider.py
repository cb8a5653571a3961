"""An adversarial national database, through the real gateway, on real sockets.

The gateway app runs in-process with its lifespan (tokens, quotas, the exchange log, the lean
transport); the national database is a raw asyncio TCP server whose answer is scripted per
call by ``?case=``. Every case checks the documented status and code, exactly one exchange
record with that outcome, and that the next exchange gets its own answer, never the previous
one's bytes: the provider echoes the ``X-NDXP-Exchange-Id`` it was sent in the body, and the
province compares it with the one it got back.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import socket
import ssl
import subprocess
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from fastapi import FastAPI

from gateway.exchange_log import ExchangeQuery
from gateway.registry import Registry, Timeouts
from gateway.testing import HA_NOI, bearer, gateway_settings, running_gateway, small_registry

pytestmark = pytest.mark.integration

# Read timeout between bytes 1 s; the total only bounds a hang.
TIMEOUTS = Timeouts(connect_s=5.0, read_s=1.0, total_s=30.0)
SIZE_CAP = 64 * 1024


@dataclass
class Call:
    """One request as the provider received it."""

    case: str
    exchange_id: str
    headers: dict[bytes, bytes]
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter


Script = Callable[["Provider", Call], Awaitable[bool]]  # True: keep the connection


def answer(exchange_id: str, *, extra_head: bytes = b"") -> bytes:
    """A valid answer (``common:FieldError``) carrying the exchange id it answers."""
    body = json.dumps({"loc": [exchange_id], "msg": "m", "type": "t"}).encode()
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + extra_head
    return head + b"content-length: %d\r\n\r\n" % len(body) + body


@dataclass
class Provider:
    """A raw TCP national database: counts its sockets, runs the script each call names."""

    accepted: int = 0
    open_now: int = 0
    max_open: int = 0
    cookies: list[bytes | None] = field(default_factory=list)
    writers: set[asyncio.StreamWriter] = field(default_factory=set)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    hold_until: int = 0  # "hold" answers wait until this many calls are held at once
    held: int = 0
    trigger: asyncio.Event = field(default_factory=asyncio.Event)
    dropped_by_gateway: asyncio.Event = field(default_factory=asyncio.Event)

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self.open_now += 1
        self.max_open = max(self.max_open, self.open_now)
        self.writers.add(writer)
        try:
            while await self._one(reader, writer):
                pass
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the gateway dropped the connection: allowed at any point
        finally:
            self.open_now -= 1
            self.writers.discard(writer)
            writer.close()

    async def _one(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return False
        request_line, *lines = head[:-4].split(b"\r\n")
        headers = {}
        for line in lines:
            name, _, value = line.partition(b":")
            headers[name.strip().lower()] = value.strip()
        self.cookies.append(headers.get(b"cookie"))
        target = request_line.split(b" ")[1].decode()
        case = target.partition("case=")[2] or "ok"
        call = Call(case, headers[b"x-ndxp-exchange-id"].decode(), headers, reader, writer)
        if case != "reset-while-writing":  # that one never reads the body
            await reader.readexactly(int(headers.get(b"content-length", b"0")))
        keep = await SCRIPTS[case](self, call)
        await writer.drain()
        return keep


def _reset(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    writer.transport.abort()


async def _ok(p: Provider, call: Call) -> bool:
    call.writer.write(answer(call.exchange_id))
    return True


async def _early_hints(p: Provider, call: Call) -> bool:
    hints = b"HTTP/1.1 103 Early Hints\r\nlink: </x.css>; rel=preload\r\n\r\n"
    call.writer.write(hints + answer(call.exchange_id))
    return True


def _framing(head: bytes, body: bytes) -> Script:
    async def script(p: Provider, call: Call) -> bool:
        call.writer.write(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n" + head + body)
        return True  # this provider would go on: the gateway must not

    return script


async def _fin_mid_body(p: Provider, call: Call) -> bool:
    call.writer.write(answer(call.exchange_id)[:-10])
    return False


async def _trickle(p: Provider, call: Call) -> bool:
    whole = answer(call.exchange_id)
    head_end = whole.index(b"\r\n\r\n") + 4
    call.writer.write(whole[:head_end])
    body = whole[head_end:]
    step = -(-len(body) // 8)
    for start in range(0, len(body), step):  # 8 pieces 0.15 s apart: 1.2 s > read timeout
        await asyncio.sleep(0.15)
        call.writer.write(body[start : start + step])
        await call.writer.drain()
    return True


async def _stall(p: Provider, call: Call) -> bool:
    call.writer.write(answer(call.exchange_id)[:-10])
    await call.reader.read()  # silent until the gateway gives up on it
    return False


async def _oversize(p: Provider, call: Call) -> bool:
    body = b"[" + b" " * (2 * SIZE_CAP) + b"]"
    head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    call.writer.write(head + b"content-length: %d\r\n\r\n" % len(body) + body)
    return True


async def _reset_while_writing(p: Provider, call: Call) -> bool:
    _reset(call.writer)  # the request body is still on its way
    return False


async def _answer_then_408(p: Provider, call: Call) -> bool:
    timeout_408 = b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n"
    call.writer.write(answer(call.exchange_id) + timeout_408)
    return True


async def _idle_408(p: Provider, call: Call) -> bool:
    call.writer.write(answer(call.exchange_id))
    await call.writer.drain()
    await p.trigger.wait()
    call.writer.write(b"HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\n\r\n")
    await call.writer.drain()
    try:
        await call.reader.read()  # returns, or raises, once the gateway drops the connection
    finally:
        p.dropped_by_gateway.set()
    return False


async def _set_cookie(p: Provider, call: Call) -> bool:
    consumer = call.headers[b"x-ndxp-consumer"]
    call.writer.write(answer(call.exchange_id, extra_head=b"set-cookie: session=%s\r\n" % consumer))
    return True


async def _hold(p: Provider, call: Call) -> bool:
    p.held += 1
    if p.held >= p.hold_until:
        p.release.set()
    await p.release.wait()
    call.writer.write(answer(call.exchange_id))
    return True


BAD_FRAMING = {
    "content-length-letters": (b"content-length: abc\r\n\r\n", b"{}"),
    "content-length-negative": (b"content-length: -1\r\n\r\n", b"{}"),
    "content-length-underscore": (b"content-length: 1_0\r\n\r\n", b"{}        "),
    "content-length-conflicting": (b"content-length: 2\r\ncontent-length: 3\r\n\r\n", b"{} "),
    "chunk-size-line-over-64k": (b"transfer-encoding: chunked\r\n\r\n", b"0" * 100_000 + b"2\r\n"),
}
SCRIPTS: dict[str, Script] = {
    "ok": _ok,
    "early-hints": _early_hints,
    **{case: _framing(head, body) for case, (head, body) in BAD_FRAMING.items()},
    "fin-mid-body": _fin_mid_body,
    "trickle": _trickle,
    "stall": _stall,
    "oversize": _oversize,
    "reset-while-writing": _reset_while_writing,
    "answer-then-408": _answer_then_408,
    "idle-408": _idle_408,
    "set-cookie": _set_cookie,
    "hold": _hold,
}


@asynccontextmanager
async def provider_server(
    tls: ssl.SSLContext | None = None,
) -> AsyncIterator[tuple[Provider, str]]:
    provider = Provider()
    server = await asyncio.start_server(provider.serve, "127.0.0.1", 0, ssl=tls)
    for sock in server.sockets:
        # A small receive window: a large request body must wait for the provider to read it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    scheme = "https" if tls else "http"
    async with server:
        yield provider, f"{scheme}://127.0.0.1:{server.sockets[0].getsockname()[1]}"
        for writer in list(provider.writers):
            writer.close()


@asynccontextmanager
async def gateway(
    tmp_path: Path, base_url: str, **population: Any
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient, dict[str, str]]]:
    """The gateway with ``population`` at ``base_url`` (its settings overridden by kwargs)."""
    registry = small_registry(base_url=base_url, timeouts=TIMEOUTS)
    providers = [
        p.model_copy(update={"max_response_bytes": SIZE_CAP, **population})
        if p.name == "population"
        else p
        for p in registry.providers
    ]
    consumers = [  # Hà Nội may call population too (the cookie case needs two provinces)
        c.model_copy(update={"subscriptions": [*c.subscriptions, "population.*"]})
        if c.id == HA_NOI[0]
        else c
        for c in registry.consumers
    ]
    registry = Registry(providers=providers, consumers=consumers)
    settings = gateway_settings(tmp_path / "state", registry)
    async with running_gateway(settings) as (app, client):
        yield app, client, await bearer(client)


async def get(client: httpx.AsyncClient, headers: dict[str, str], case: str) -> httpx.Response:
    return await client.get(f"/population/v1/citizens/038090001234?case={case}", headers=headers)


async def records(app: FastAPI) -> list[Any]:
    runtime = app.state.runtime
    await runtime.log.flush()
    return list((await runtime.log.query(ExchangeQuery(limit=1000))).items)


def echoed(response: httpx.Response) -> str:
    """The exchange id the provider says it answered."""
    loc: list[str] = response.json()["loc"]
    return loc[0]


# status, code (None: passed on), connections the provider saw for this call and the next
CASES: dict[str, tuple[int, str | None, int]] = {
    "early-hints": (200, None, 1),
    **dict.fromkeys(BAD_FRAMING, (502, "upstream_protocol_error", 2)),
    "fin-mid-body": (502, "upstream_reset", 2),
    "trickle": (200, None, 1),
    "stall": (504, "upstream_timeout", 2),
    "oversize": (502, "upstream_response_too_large", 2),
    "answer-then-408": (200, None, 2),
}


@pytest.mark.parametrize("case", list(CASES))
async def test_adversarial_provider_case_gets_its_documented_answer(
    tmp_path: Path, case: str
) -> None:
    status, code, connections = CASES[case]
    async with provider_server() as (provider, url), gateway(tmp_path, url) as (app, client, auth):
        first = await get(client, auth, case)
        second = await get(client, auth, "ok")
        logged = await records(app)

    assert first.status_code == status, first.text
    if code is None:
        assert echoed(first) == first.headers["x-ndxp-exchange-id"]
    else:
        assert (first.json()["code"], first.headers["x-ndxp-error"]) == (code, code)
    # The next exchange gets its own answer; a spoiled connection was not reused for it.
    assert second.status_code == 200
    assert echoed(second) == second.headers["x-ndxp-exchange-id"]
    assert provider.accepted == connections
    by_id = Counter(r.exchange_id for r in logged)
    assert by_id[first.headers["x-ndxp-exchange-id"]] == 1
    (record,) = [r for r in logged if r.exchange_id == first.headers["x-ndxp-exchange-id"]]
    assert (record.status_code, record.outcome) == (status, code or "ok")


async def test_reset_while_the_request_is_written_is_502_upstream_reset(tmp_path: Path) -> None:
    body = {"personal_id": "038090001234", "padding": "x" * 800_000}
    async with provider_server() as (_provider, url), gateway(tmp_path, url) as (app, client, auth):
        first = await client.post(
            "/population/v1/citizens/verify?case=reset-while-writing", json=body, headers=auth
        )
        second = await get(client, auth, "ok")
        logged = await records(app)
    assert first.status_code == 502, first.text
    assert first.json()["code"] == "upstream_reset"
    assert echoed(second) == second.headers["x-ndxp-exchange-id"]
    outcomes = [r.outcome for r in logged if r.exchange_id == first.headers["x-ndxp-exchange-id"]]
    assert outcomes == ["upstream_reset"]


async def test_unsolicited_408_on_an_idle_connection_is_never_an_answer(tmp_path: Path) -> None:
    async with provider_server() as (provider, url), gateway(tmp_path, url) as (app, client, auth):
        first = await get(client, auth, "idle-408")
        provider.trigger.set()  # the 408 arrives on the now idle, pooled connection
        await asyncio.wait_for(provider.dropped_by_gateway.wait(), 30)
        second = await get(client, auth, "ok")
        logged = await records(app)
    assert echoed(first) == first.headers["x-ndxp-exchange-id"]
    assert second.status_code == 200
    assert echoed(second) == second.headers["x-ndxp-exchange-id"]
    assert provider.accepted == 2
    assert sorted(r.outcome for r in logged) == ["ok", "ok"]


async def test_a_providers_cookie_for_one_province_never_reaches_the_next(tmp_path: Path) -> None:
    async with provider_server() as (provider, url), gateway(tmp_path, url) as (_app, client, auth):
        thanh_hoa = await get(client, auth, "set-cookie")
        ha_noi = await get(client, await bearer(client, HA_NOI), "ok")
    assert "set-cookie" in thanh_hoa.headers  # passed on to the province that got it
    assert ha_noi.status_code == 200
    assert provider.accepted == 1  # the same connection, and still no cookie on it
    assert provider.cookies == [None, None]


def _close_wait_sockets(port: int) -> int:
    return sum(
        1
        for c in psutil.Process().net_connections(kind="tcp")
        if c.status == psutil.CONN_CLOSE_WAIT and c.raddr and c.raddr.port == port
    )


def _sockets_to(port: int) -> int:
    return sum(
        1 for c in psutil.Process().net_connections(kind="tcp") if c.raddr and c.raddr.port == port
    )


async def _until(condition: Callable[[], bool], what: str, deadline_s: float = 30.0) -> None:
    """Poll ``condition``; the deadline only bounds a hang."""
    try:
        async with asyncio.timeout(deadline_s):
            while not condition():  # noqa: ASYNC110 - a socket's kernel state has no event
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"still waiting for {what} after {deadline_s} s") from None


async def test_300_concurrent_calls_over_a_cap_of_100_never_open_more_than_100_sockets(
    tmp_path: Path,
) -> None:
    async with (
        provider_server() as (provider, url),
        gateway(tmp_path, url, max_connections=100, pool_wait_s=60.0) as (app, client, auth),
    ):
        provider.hold_until = 100  # answer only once the gateway holds 100 calls at once
        answers = await asyncio.gather(*(get(client, auth, "hold") for _ in range(300)))
        logged = await records(app)
        port = int(url.rsplit(":", 1)[1])
        stats = f"accepted {provider.accepted}, max open {provider.max_open}"
        assert _sockets_to(port) == 100, stats  # idle in the pool, none leaked
        # The provider closes every connection: the gateway closes its side at once.
        for writer in list(provider.writers):
            writer.close()
        await _until(lambda: _sockets_to(port) == 0, "the gateway to close its sockets")
        assert _close_wait_sockets(port) == 0

    assert provider.max_open == 100
    assert provider.accepted == 100
    statuses = Counter(a.status_code for a in answers)
    assert statuses == {200: 300}, [a.text for a in answers if a.status_code != 200][:3]
    assert all(echoed(a) == a.headers["x-ndxp-exchange-id"] for a in answers)
    assert Counter(r.outcome for r in logged) == {"ok": 300}


async def test_calls_beyond_the_cap_wait_a_bounded_time_then_503_upstream_busy(
    tmp_path: Path,
) -> None:
    async with (
        provider_server() as (provider, url),
        gateway(tmp_path, url, max_connections=2, pool_wait_s=0.2) as (app, client, auth),
    ):
        provider.hold_until = 10**9  # held until released below
        held = [asyncio.create_task(get(client, auth, "hold")) for _ in range(2)]
        await _until(lambda: provider.held == 2, "both connections to be busy")
        busy = await get(client, auth, "ok")
        provider.release.set()
        answered = await asyncio.gather(*held)
        logged = await records(app)
    assert busy.status_code == 503
    assert (busy.json()["code"], busy.headers["x-ndxp-error"]) == ("upstream_busy",) * 2
    assert [a.status_code for a in answered] == [200, 200]
    assert provider.max_open == 2
    assert sorted(r.outcome for r in logged) == ["ok", "ok", "upstream_busy"]


# -- https providers: TLS, verified ----------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 (it is its own CA) and its key."""
    openssl = shutil.which("openssl")
    assert openssl, "the https tests need the openssl command (Debian: apt-get install openssl)"
    where = tmp_path_factory.mktemp("tls")
    cert, key = where / "cert.pem", where / "key.pem"
    subprocess.run(
        [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def _server_tls(certificate: tuple[Path, Path]) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    return context


async def test_https_provider_verified_against_its_ca_file_answers(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    async with (
        provider_server(_server_tls(certificate)) as (provider, url),
        gateway(tmp_path, url, ca_file=certificate[0]) as (_app, client, auth),
    ):
        first = await get(client, auth, "ok")
        second = await get(client, auth, "ok")
    assert [first.status_code, second.status_code] == [200, 200]
    assert echoed(second) == second.headers["x-ndxp-exchange-id"]
    assert provider.accepted == 1  # kept alive over TLS too


async def test_https_provider_with_an_untrusted_certificate_is_502_unreachable(
    tmp_path: Path, certificate: tuple[Path, Path]
) -> None:
    async with (
        provider_server(_server_tls(certificate)) as (_provider, url),
        gateway(tmp_path, url) as (app, client, auth),  # the system's CAs do not know it
    ):
        response = await get(client, auth, "ok")
        logged = await records(app)
    assert response.status_code == 502
    assert response.json()["code"] == "upstream_unreachable"
    assert "CERTIFICATE_VERIFY_FAILED" in response.json()["detail"]
    assert [r.outcome for r in logged] == ["upstream_unreachable"]
