"""A Python HTTP/1.1 load generator: the fixed-rate load, and saturation when wrk is missing.

A bare asyncio client over keep-alive connections (Content-Length bodies only), cheap enough
to leave most of the CPU to the servers — wrk is cheaper still and preferred for saturation.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class Connection:
    """One keep-alive HTTP/1.1 connection; requests in series."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(self, raw: bytes) -> int:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        self.writer.close()


class Pool:
    def __init__(self, port: int) -> None:
        self.port = port
        self.idle: list[Connection] = []

    async def request(self, raw: bytes) -> int:
        if self.idle:
            conn = self.idle.pop()
            try:
                status = await conn.request(raw)
            except (asyncio.IncompleteReadError, ConnectionError):
                # The server closed it while it sat idle (keep-alive timeout): retry on a new one.
                conn.close()
                conn = await Connection.open(self.port)
                status = await conn.request(raw)
        else:
            conn = await Connection.open(self.port)
            status = await conn.request(raw)
        self.idle.append(conn)
        return status

    def close(self) -> None:
        for conn in self.idle:
            conn.close()


def raw_get(path: str, headers: dict[str, str]) -> bytes:
    lines = [f"GET {path} HTTP/1.1", "Host: bench", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def fixed_rate(port: int, raw: bytes, rate: float, duration: float) -> dict[str, Any]:
    """Open loop: request i leaves at start + i/rate; latency counts from that moment."""
    pool = Pool(port)
    latencies: list[float] = []
    errors = 0

    async def one(scheduled: float) -> None:
        nonlocal errors
        status = await pool.request(raw)
        latencies.append(time.perf_counter() - scheduled)
        if status != 200:
            errors += 1

    tasks = []
    start = time.perf_counter() + 0.05
    for i in range(int(rate * duration)):
        scheduled = start + i / rate
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(scheduled)))
    await asyncio.gather(*tasks)
    pool.close()
    return summary(latencies, errors, time.perf_counter() - start)


async def saturation(port: int, raw: bytes, connections: int, duration: float) -> dict[str, Any]:
    """As fast as ``connections`` keep-alive connections go, for ``duration`` seconds."""
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + duration

    async def worker() -> None:
        nonlocal errors
        conn = await Connection.open(port)
        while time.perf_counter() < stop:
            sent = time.perf_counter()
            if await conn.request(raw) != 200:
                errors += 1
            latencies.append(time.perf_counter() - sent)
        conn.close()

    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    return summary(latencies, errors, time.perf_counter() - start)


def summary(latencies: list[float], errors: int, elapsed: float) -> dict[str, Any]:
    """The same keys as :func:`bench_stack.run_wrk` (latencies in µs)."""
    ordered = sorted(latencies) or [0.0]

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1e6

    return {
        "requests": len(latencies),
        "errors": errors,
        "rps": len(latencies) / elapsed,
        "p50_us": pct(50),
        "p90_us": pct(90),
        "p99_us": pct(99),
        "max_us": ordered[-1] * 1e6,
    }


@contextmanager
def on_core(core: int | None) -> Iterator[None]:
    """Run this process (the Python load generator) on ``core`` for a while."""
    if core is None or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {core})
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
