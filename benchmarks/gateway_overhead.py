"""What the NDXP gateway adds: the same load direct to a national database and through the gateway.

Real servers on loopback, each in its own process: the upstream (the population mock, or with
``--upstream minimal`` a bare asyncio server answering one valid citizen, so the gateway is the
only thing measured), and the gateway — one uvicorn worker, every feature on: token check,
quota (SQLite), exchange log, metrics, contract check. The load generator is a bare asyncio
HTTP/1.1 client over keep-alive connections, cheap enough to leave the CPU to the servers.

Two loads, each run direct and through the gateway:

* **fixed rate** (open loop, default 300 req/s): requests leave on schedule whether or not
  earlier ones came back; latency is measured from the scheduled time, so queueing counts.
  Added latency = gateway percentile − direct percentile.
* **saturation**: as fast as ``--connections`` keep-alive connections go; gives throughput.

Run::

    .venv/bin/python benchmarks/gateway_overhead.py            # population mock upstream
    .venv/bin/python benchmarks/gateway_overhead.py --upstream minimal --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import psutil

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gateway.registry import default_registry, render_registry  # noqa: E402
from gateway.testing import free_port  # noqa: E402
from mock_services.population import citizen_record, sample_ids  # noqa: E402

SEED = 2024
CLIENT = ("onestop-thanh-hoa", "dev-secret-thanh-hoa")


# --- the upstreams --------------------------------------------------------------------------

MINIMAL_UPSTREAM = r"""
import asyncio, sys, uvloop
body = open(sys.argv[2], "rb").read()
head = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
        + str(len(body)).encode() + b"\r\n\r\n")
health = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"

class Http(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport, self.buffer = transport, b""
    def data_received(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer:
            request, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            first = request.split(b"\r\n")[0]
            self.transport.write(health if b" /healthz " in first else head + body)

async def main():
    server = await asyncio.get_running_loop().create_server(Http, "127.0.0.1", int(sys.argv[1]))
    await server.serve_forever()

uvloop.run(main())
"""


@contextmanager
def process(
    argv: list[str], env: dict[str, str], url: str, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process and wait for its /healthz; stop it afterwards."""
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"{argv} exited:\n{log.read_text()}")
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass  # not listening yet
            if time.monotonic() > deadline:
                raise RuntimeError(f"{argv} did not start:\n{log.read_text()}")
            time.sleep(0.1)
        yield proc
    finally:
        proc.terminate()
        proc.wait(20)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its children so far."""
    root = psutil.Process(pid)
    return sum(sum(p.cpu_times()[:2]) for p in (root, *root.children(recursive=True)))


# --- the load generator ---------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection; requests in series, Content-Length bodies only."""

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
                # The server closed it while it sat idle (uvicorn's keep-alive timeout, 5 s):
                # any HTTP client retries that on a new connection.
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


async def fixed_rate(port: int, raw: bytes, rate: float, duration: float) -> dict[str, float]:
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


async def saturation(port: int, raw: bytes, connections: int, duration: float) -> dict[str, float]:
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


def summary(latencies: list[float], errors: int, elapsed: float) -> dict[str, float]:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))] * 1000

    return {
        "requests": len(ordered),
        "errors": errors,
        "rps": len(ordered) / elapsed,
        "p50_ms": pct(50),
        "p90_ms": pct(90),
        "p99_ms": pct(99),
    }


# --- the run ----------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", choices=["population", "minimal"], default="population")
    parser.add_argument("--rate", type=float, default=300.0, help="fixed-rate load, req/s")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per load")
    parser.add_argument("--connections", type=int, default=32, help="saturation connections")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="ndxp-bench-"))
    upstream_port, gateway_port = free_port(), free_port()
    upstream_url = f"http://127.0.0.1:{upstream_port}"
    personal_id = sample_ids(SEED, "038")[0]
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDXP_")}
    env |= {"NDXP_STATE_DIR": str(work / "state"), "NDXP_MOCKS__SEED": str(SEED)}

    if args.upstream == "minimal":
        body = work / "citizen.json"
        body.write_text(citizen_record(SEED, personal_id).model_dump_json(), encoding="utf-8")
        script = work / "upstream.py"
        script.write_text(MINIMAL_UPSTREAM, encoding="utf-8")
        upstream_argv = [sys.executable, str(script), str(upstream_port), str(body)]
    else:
        serve = (
            "import uvicorn; from mock_services.population import create_app; "
            "from ndxp_config.settings import get_settings; "
            f"uvicorn.run(create_app(get_settings()), port={upstream_port}, log_level='warning')"
        )
        upstream_argv = [sys.executable, "-c", serve]

    # The shipped registry, its population database at our upstream, quotas out of the way
    # (but still counted: every request runs the atomic acquire).
    registry = default_registry()
    providers = [
        p.model_copy(update={"base_url": upstream_url}) if p.name == "population" else p
        for p in registry.providers
    ]
    consumers = [
        c.model_copy(update={"daily_quota": 10**9, "service_quotas": {}})
        for c in registry.consumers
    ]
    registry = registry.model_copy(update={"providers": providers, "consumers": consumers})
    (work / "registry.yaml").write_text(render_registry(registry), encoding="utf-8")
    gateway_env = env | {
        "NDXP_GATEWAY__REGISTRY_PATH": str(work / "registry.yaml"),
        "PROMETHEUS_MULTIPROC_DIR": str(work / "prometheus"),
    }
    (work / "prometheus").mkdir()
    gateway_argv = [sys.executable, "-m", "uvicorn", "gateway.server:app_factory", "--factory",
                    "--port", str(gateway_port), "--workers", "1", "--log-level", "warning",
                    "--no-access-log", "--loop", "uvloop", "--http", "httptools"]  # fmt: skip
    gateway_url = f"http://127.0.0.1:{gateway_port}"

    with (
        process(upstream_argv, env | {"PYTHONPATH": str(ROOT)}, upstream_url, work / "up.log"),
        process(
            gateway_argv, gateway_env | {"PYTHONPATH": str(ROOT)}, gateway_url, work / "gw.log"
        ) as gateway_process,
    ):
        token = httpx.post(
            f"{gateway_url}/oauth2/token",
            data={"grant_type": "client_credentials", "client_id": CLIENT[0],
                  "client_secret": CLIENT[1]},
        ).json()["access_token"]  # fmt: skip
        path = f"/v1/citizens/{personal_id}"
        direct = raw_get(path, {})
        through = raw_get("/population" + path, {"Authorization": f"Bearer {token}"})
        check = httpx.get(
            f"{gateway_url}/population{path}", headers={"Authorization": f"Bearer {token}"}
        )
        assert check.status_code == 200, check.text
        assert "x-ndxp-contract-violations" not in check.headers, check.headers

        results: dict[str, dict[str, float]] = {}
        for name, port, raw in (
            ("direct", upstream_port, direct),
            ("gateway", gateway_port, through),
        ):
            asyncio.run(saturation(port, raw, args.connections, 1.0))  # warm-up
            results[f"{name}/fixed"] = asyncio.run(fixed_rate(port, raw, args.rate, args.duration))
            cpu_before = cpu_seconds(gateway_process.pid)
            results[f"{name}/saturation"] = asyncio.run(
                saturation(port, raw, args.connections, args.duration)
            )
            if name == "gateway":  # CPU per request: far steadier than req/s on a busy machine
                spent = cpu_seconds(gateway_process.pid) - cpu_before
                gateway_cpu_ms = spent / results[f"{name}/saturation"]["requests"] * 1000

    print(f"upstream: {args.upstream}; gateway: 1 worker, auth + quota + log + metrics + contract")
    print(f"{'load':<22}{'req/s':>10}{'p50 ms':>10}{'p90 ms':>10}{'p99 ms':>10}{'errors':>8}")
    for name, r in results.items():
        print(f"{name:<22}{r['rps']:>10.0f}{r['p50_ms']:>10.2f}{r['p90_ms']:>10.2f}"
              f"{r['p99_ms']:>10.2f}{r['errors']:>8.0f}")  # fmt: skip
    added = {
        p: results["gateway/fixed"][f"{p}_ms"] - results["direct/fixed"][f"{p}_ms"]
        for p in ("p50", "p99")
    }
    print(
        f"\nadded latency at {args.rate:.0f} req/s: p50 {added['p50']:.2f} ms, "
        f"p99 {added['p99']:.2f} ms (target p99 <= 5 ms)"
    )
    print(
        f"proxied throughput at saturation: {results['gateway/saturation']['rps']:.0f} req/s "
        "(target >= 1500)"
    )
    print(
        f"gateway CPU per proxied request at saturation: {gateway_cpu_ms:.3f} ms "
        "(user + system, the gateway's processes)"
    )
    if args.json:
        print(json.dumps({"results": results, "added_ms": added}, indent=2))


if __name__ == "__main__":
    main()
