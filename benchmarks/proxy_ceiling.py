"""The Python ceiling: a reverse proxy with no features, on uvloop, asyncio Protocols and httptools.

What Python itself allows on one core: each client connection gets its own keep-alive
connection to the upstream; a request is parsed (httptools), its head rebuilt with the
upstream's Host, sent on; the response is parsed for its framing and written back as it
came. No auth, quota, log or metrics — the gateway's work per request is what it adds over
this. HTTP/1.1, Content-Length or chunked bodies, no pipelining.

    python benchmarks/proxy_ceiling.py LISTEN_PORT UPSTREAM_PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import cast

import httptools
import uvloop

HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"upgrade", b"host"}


class Upstream(asyncio.Protocol):
    """The proxy's keep-alive connection to the upstream, for one client connection."""

    def __init__(self, client: asyncio.Transport) -> None:
        self.client = client
        self.parser = httptools.HttpResponseParser(self)
        self.raw = bytearray()
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        self.raw += data
        self.parser.feed_data(data)

    def on_message_complete(self) -> None:
        self.client.write(bytes(self.raw))
        self.raw.clear()

    def connection_lost(self, exc: Exception | None) -> None:
        self.client.close()


class Client(asyncio.Protocol):
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.host = f"127.0.0.1:{upstream_port}".encode()
        self.parser = httptools.HttpRequestParser(self)
        self.upstream: Upstream | None = None
        self.pending: list[bytes] = []
        self.head: list[bytes] = []
        self.body = bytearray()
        self.url = b""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        self.upstream = Upstream(transport)
        loop = asyncio.get_running_loop()
        self.connecting = loop.create_task(self._connect(loop))

    async def _connect(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self.upstream is not None
        await loop.create_connection(lambda: self.upstream, "127.0.0.1", self.upstream_port)  # type: ignore[arg-type, return-value]
        for message in self.pending:
            self._send(message)
        self.pending.clear()

    def data_received(self, data: bytes) -> None:
        try:
            self.parser.feed_data(data)
        except httptools.HttpParserError:
            self.transport.write(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
            self.transport.close()

    def on_url(self, url: bytes) -> None:
        self.url += url

    def on_header(self, name: bytes, value: bytes) -> None:
        if name.lower() not in HOP:
            self.head.append(name + b": " + value)

    def on_body(self, body: bytes) -> None:
        self.body += body

    def on_message_complete(self) -> None:
        method = self.parser.get_method()
        head = [method + b" " + self.url + b" HTTP/1.1", b"host: " + self.host, *self.head]
        if self.body or method in (b"POST", b"PUT", b"PATCH"):
            head = [h for h in head if not h.lower().startswith(b"transfer-encoding")]
            head = [h for h in head if not h.lower().startswith(b"content-length")]
            head.append(b"content-length: " + str(len(self.body)).encode())
        message = b"\r\n".join(head) + b"\r\n\r\n" + bytes(self.body)
        self.url, self.head, self.body = b"", [], bytearray()
        upstream = self.upstream
        if upstream is None or upstream.transport is None:
            self.pending.append(message)
        else:
            self._send(message)

    def _send(self, message: bytes) -> None:
        assert self.upstream is not None
        assert self.upstream.transport is not None
        self.upstream.transport.write(message)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.upstream is not None and self.upstream.transport is not None:
            self.upstream.transport.close()


async def serve(port: int, upstream_port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: Client(upstream_port), "127.0.0.1", port, backlog=4096
    )
    await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]), int(sys.argv[2])))
