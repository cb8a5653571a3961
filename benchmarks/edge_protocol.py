"""The gateway's client edge: what EdgeProtocol costs, and what a slowloris attack gets.

Two measurements, each against real uvicorn processes on loopback:

* **cost**: server CPU per request of a trivial ASGI app under uvicorn's plain httptools
  protocol and under :class:`gateway.protocol.EdgeProtocol` (keep-alive connections, a
  small head); rounds interleaved, min and median reported.
* **slowloris**: the gateway (``gateway.server:app_factory``, one worker, the options of
  ``serve-gateway``) while ``--slow`` connections each send an unfinished head; reports how
  long until every one was answered 408 and closed, and the latency of good calls
  (``/healthz``) made meanwhile.

Run::

    .venv/bin/python benchmarks/edge_protocol.py cost
    .venv/bin/python benchmarks/edge_protocol.py slowloris --slow 3000 --header-timeout 10
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent
TRIVIAL = """
async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-length", b"2")]})
    await send({"type": "http.response.body", "body": b"ok"})
"""
REQUEST = (
    b"GET /x HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer abc\r\n"
    b"User-Agent: bench\r\nAccept: */*\r\n\r\n"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start(argv: list[str], env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port)).close()
        except OSError:
            time.sleep(0.05)
        else:
            return process
    process.kill()
    raise RuntimeError(f"{argv} did not start")


async def keep_alive_load(port: int, requests: int, connections: int) -> None:
    async def one(count: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for _ in range(count):
            writer.write(REQUEST)
            await writer.drain()
            await reader.readuntil(b"\r\n\r\n")
            await reader.readexactly(2)
        writer.close()

    await asyncio.gather(*(one(requests // connections) for _ in range(connections)))


def cost(rounds: int, requests: int) -> None:
    work = Path(tempfile.mkdtemp())
    (work / "trivial_app.py").write_text(TRIVIAL, encoding="utf-8")
    env = os.environ | {"PYTHONPATH": f"{ROOT}{os.pathsep}{work}"}
    found: dict[str, list[float]] = {"httptools": [], "gateway.protocol:EdgeProtocol": []}
    for _ in range(rounds):
        for http in found:
            port = free_port()
            argv = [sys.executable, "-m", "uvicorn", "trivial_app:app", "--port", str(port),
                    "--http", http, "--loop", "uvloop", "--no-access-log",
                    "--log-level", "warning"]  # fmt: skip
            process = start(argv, env, port)
            try:
                server = psutil.Process(process.pid)
                asyncio.run(keep_alive_load(port, 2_000, 10))  # warm-up
                before = server.cpu_times()
                asyncio.run(keep_alive_load(port, requests, 20))
                after = server.cpu_times()
            finally:
                process.terminate()
                process.wait()
            used = (after.user - before.user) + (after.system - before.system)
            found[http].append(used / requests * 1e6)
    for http, values in found.items():
        values.sort()
        print(f"{http:32} min {values[0]:6.1f}  median {values[len(values) // 2]:6.1f} µs CPU/req")


async def slowloris_attack(port: int, slow: int) -> tuple[float, list[float], int]:
    head = b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: "  # never finished
    started = time.monotonic()
    held = []
    for _ in range(slow):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(head)
        held.append((reader, writer))
    good: list[float] = []
    answered = 0

    async def cut(reader: asyncio.StreamReader) -> bool:
        data = await reader.read()  # until the server closes
        return data.startswith(b"HTTP/1.1 408")

    waiting = asyncio.gather(*(cut(reader) for reader, _ in held))
    while not waiting.done():
        t0 = time.monotonic()
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n")
        await reader.read()
        writer.close()
        good.append((time.monotonic() - t0) * 1000)
        await asyncio.sleep(0.2)
    answered = sum(await waiting)
    for _, writer in held:
        writer.close()
    return time.monotonic() - started, good, answered


def slowloris(slow: int, header_timeout: float) -> None:
    port = free_port()
    state = Path(tempfile.mkdtemp())
    env = os.environ | {
        "PYTHONPATH": str(ROOT),
        "NDXP_STATE_DIR": str(state),
        "NDXP_GATEWAY__HEADER_TIMEOUT_S": str(header_timeout),
    }
    from gateway.server import uvicorn_options

    options = uvicorn_options()
    argv = [sys.executable, "-m", "uvicorn", "gateway.server:app_factory", "--factory",
            "--port", str(port), "--http", str(options["http"]), "--ws", "none",
            "--log-level", "warning", "--no-access-log"]  # fmt: skip
    process = start(argv, env, port)
    try:
        elapsed, good, answered = asyncio.run(slowloris_attack(port, slow))
    finally:
        process.terminate()
        process.wait()
    good.sort()
    print(
        f"{slow} slow heads (header_timeout_s={header_timeout:g}): all closed after "
        f"{elapsed:.1f} s, {answered} answered 408; {len(good)} good calls meanwhile, "
        f"latency median {good[len(good) // 2]:.1f} ms, max {good[-1]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="what", required=True)
    cost_args = sub.add_parser("cost")
    cost_args.add_argument("--rounds", type=int, default=6)
    cost_args.add_argument("--requests", type=int, default=20_000)
    slow_args = sub.add_parser("slowloris")
    slow_args.add_argument("--slow", type=int, default=3_000)
    slow_args.add_argument("--header-timeout", type=float, default=10.0)
    args = parser.parse_args()
    if args.what == "cost":
        cost(args.rounds, args.requests)
    else:
        slowloris(args.slow, args.header_timeout)


if __name__ == "__main__":
    main()
