"""CPU per provider exchange: response parsers, and the gateway's transport against alternatives.

Two figures, both in CPU microseconds (``time.process_time``), so a loaded machine changes them
far less than it changes wall-clock latencies:

* **parsers** — one typical provider response (uvicorn's head, a ~700-byte JSON citizen) parsed
  by llhttp (``httptools``, what :mod:`gateway.transport` uses) and by h11 (sans-I/O, pure
  Python; its client state machine needs the request sent through it too).
* **transports** — sequential and concurrent GETs over keep-alive to a bare uvloop server in
  another process: the gateway's :class:`~gateway.transport.LeanTransport` through its direct
  entry (what :class:`~gateway.upstream.Upstream` calls) and through httpx's transport
  interface, httpx's default (httpcore), and optionally an older ``transport.py`` (``--baseline
  FILE``, e.g. one extracted with ``git show <commit>:gateway/transport.py``) for a before/after.

Run::

    .venv/bin/python benchmarks/transport_parsers.py
    git show 4e78957:gateway/transport.py > /tmp/old_transport.py
    .venv/bin/python benchmarks/transport_parsers.py --baseline /tmp/old_transport.py
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import h11
import httptools
import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.testing import free_port  # noqa: E402
from gateway.transport import LeanTransport  # noqa: E402

BODY = b'{"personal_id":"038090001234","full_name":"' + b"x" * 640 + b'"}'
RESPONSE = (
    b"HTTP/1.1 200 OK\r\ndate: Mon, 01 Jan 2024 00:00:00 GMT\r\nserver: uvicorn\r\n"
    b"content-type: application/json\r\ncontent-length: " + str(len(BODY)).encode() + b"\r\n"
    b"x-ndxp-injected-fault: none\r\n\r\n" + BODY
)
UPSTREAM = r"""
import asyncio, sys, uvloop
response = open(sys.argv[2], "rb").read()

class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            _, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            self.transport.write(response)

async def main():
    server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", int(sys.argv[1]))
    print("ready", flush=True)
    await server.serve_forever()

uvloop.run(main())
"""


# --- parsers --------------------------------------------------------------------------------


class _Sink:
    def __init__(self) -> None:
        self.body: list[bytes] = []
        self.done = False

    def on_header(self, name: bytes, value: bytes) -> None:
        pass

    def on_body(self, data: bytes) -> None:
        self.body.append(data)

    def on_message_complete(self) -> None:
        self.done = True


def parse_llhttp() -> None:
    sink = _Sink()
    parser = httptools.HttpResponseParser(sink)
    parser.feed_data(RESPONSE)
    parser.get_status_code()
    parser.should_keep_alive()
    assert sink.done


_H11_REQUEST = h11.Request(method="GET", target="/v1/citizens/1", headers=[("host", "db")])


def parse_h11() -> None:
    conn = h11.Connection(h11.CLIENT)
    conn.send(_H11_REQUEST)
    conn.send(h11.EndOfMessage())
    conn.receive_data(RESPONSE)
    while True:
        event = conn.next_event()
        if type(event) is h11.EndOfMessage:
            return
        assert event is not h11.NEED_DATA


def cpu_us(fn: Callable[[], None], n: int) -> float:
    for _ in range(n // 10):
        fn()  # warm-up
    start = time.process_time()
    for _ in range(n):
        fn()
    return (time.process_time() - start) / n * 1e6


# --- transports -----------------------------------------------------------------------------


Send = Callable[[], Awaitable[bytes]]


async def cpu_per_request(send: Send, n: int, concurrency: int) -> float:
    async def worker(count: int) -> None:
        for _ in range(count):
            assert await send() == BODY

    await worker(50)  # warm-up: connections open, caches hot
    start = time.process_time()
    await asyncio.gather(*(worker(n // concurrency) for _ in range(concurrency)))
    return (time.process_time() - start) / (n // concurrency * concurrency) * 1e6


def via_httpx(transport: httpx.AsyncBaseTransport, url: str) -> Send:
    async def send() -> bytes:
        request = httpx.Request("GET", url, extensions={"timeout": _TIMEOUTS})
        response = await transport.handle_async_request(request)
        body = await response.aread()
        await response.aclose()
        return body

    return send


def lean_direct(transport: LeanTransport, port: int) -> Send:
    headers = [(b"host", b"127.0.0.1:%d" % port), (b"accept-encoding", b"identity")]

    async def send() -> bytes:
        raw = await transport.open(
            ("http", "127.0.0.1", port), b"GET", b"/v1/citizens/1", headers, b"", _TIMEOUTS
        )
        return await raw.aread()

    return send


_TIMEOUTS = {"connect": 5.0, "read": 5.0, "write": 5.0, "pool": 5.0}


def load_baseline(path: Path) -> type[httpx.AsyncBaseTransport]:
    spec = importlib.util.spec_from_file_location("baseline_transport", path)
    assert spec
    assert spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    cls: type[httpx.AsyncBaseTransport] = module.LeanTransport
    return cls


async def transports(port: int, n: int, baseline: Path | None) -> dict[str, dict[int, float]]:
    url = f"http://127.0.0.1:{port}/v1/citizens/1"
    candidates: dict[str, Callable[[], tuple[Send, httpx.AsyncBaseTransport]]] = {}

    def lean_d() -> tuple[Send, httpx.AsyncBaseTransport]:
        t = LeanTransport()
        return lean_direct(t, port), t

    def lean_h() -> tuple[Send, httpx.AsyncBaseTransport]:
        t = LeanTransport()
        return via_httpx(t, url), t

    def core() -> tuple[Send, httpx.AsyncBaseTransport]:
        t = httpx.AsyncHTTPTransport(limits=httpx.Limits(max_connections=100))
        return via_httpx(t, url), t

    candidates["lean, direct (Upstream.send)"] = lean_d
    candidates["lean, httpx interface"] = lean_h
    if baseline is not None:
        old = load_baseline(baseline)

        def base() -> tuple[Send, httpx.AsyncBaseTransport]:
            t = old()
            return via_httpx(t, url), t

        candidates[f"baseline {baseline.name}, httpx interface"] = base
    candidates["httpcore (httpx default)"] = core

    results: dict[str, dict[int, float]] = {}
    for name, make in candidates.items():
        results[name] = {}
        for concurrency in (1, 32):
            send, transport = make()
            results[name][concurrency] = await cpu_per_request(send, n, concurrency)
            await transport.aclose()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=6400, help="per transport and load")
    parser.add_argument("--baseline", type=Path, help="an older gateway/transport.py to compare")
    args = parser.parse_args()

    print("parser, CPU us per response (lower is better)")
    for name, fn in (("llhttp (httptools)", parse_llhttp), ("h11", parse_h11)):
        print(f"  {name:<24}{cpu_us(fn, 20_000):>8.1f}")

    work = Path(tempfile.mkdtemp(prefix="ndxp-transport-"))
    (work / "response").write_bytes(RESPONSE)
    (work / "upstream.py").write_text(UPSTREAM, encoding="utf-8")
    port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(work / "upstream.py"), str(port), str(work / "response")],
        stdout=subprocess.PIPE,
    )
    try:
        assert upstream.stdout
        assert upstream.stdout.readline().strip() == b"ready"
        import uvloop  # installed with uvicorn[standard]

        results = uvloop.run(transports(port, args.requests, args.baseline))
    finally:
        upstream.terminate()
        upstream.wait(10)
    print("\ntransport, client CPU us per request (lower is better)")
    print(f"  {'':<44}{'1 at a time':>12}{'32 at once':>12}")
    for name, by_load in results.items():
        print(f"  {name:<44}{by_load[1]:>12.1f}{by_load[32]:>12.1f}")


if __name__ == "__main__":
    main()
