"""Quota stores and scale-out, measured: SQLite vs Redis, one process vs two; 1 vs 2 gateways.

**Admissions.** Each process opens its own store (as a uvicorn worker does) and, after a common
start signal, runs ``--concurrency`` coroutines admitting exchanges for ``--duration`` seconds
— two counters each (consumer, consumer × service) over the 63 provinces, limits never reached.
Reported per store and process count: admissions/s (all processes together), p50/p99 latency of
one ``acquire`` as the caller awaits it, and client CPU per admission (process CPU / count).
SQLite is the file under a temporary directory; Redis the shared server (``--redis``) under a
key prefix of the run's own, deleted afterwards.

**Gateway throughput.** The whole stack on loopback (mocks, gateway instances with
``--workers`` each, Redis quotas, PostgreSQL log), one instance vs two behind nginx, under a
closed-loop load of ``--connections`` keep-alive connections (the generator of
``gateway_overhead.py``) calling ``GET /population/v1/citizens/{id}``.

Everything shares this machine's cores (2 here): read the numbers as relative, and the load
average printed with them.

Run::

    .venv/bin/python benchmarks/quota_stores.py                  # both parts
    .venv/bin/python benchmarks/quota_stores.py --part stores --duration 5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import sys
import tempfile
import time
import uuid
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from contracts.provinces import PROVINCES  # noqa: E402
from gateway.quotas import QuotaRule, SqliteQuotaStore  # noqa: E402
from gateway.quotas_redis import RedisQuotaStore  # noqa: E402

DAY = date(2031, 1, 1)


def rules_of(i: int) -> list[QuotaRule]:
    consumer = f"onestop-{PROVINCES[i % len(PROVINCES)].code}"
    return [
        QuotaRule(consumer, "daily", 10**12),
        QuotaRule(f"{consumer}|population.get_citizen", "daily-p", 10**12),
    ]


def _admit(kind: str, where: str, concurrency: int, duration: float, go: Any, out: Any) -> None:
    async def run() -> dict[str, float]:
        store = (
            SqliteQuotaStore(Path(where))
            if kind == "sqlite"
            else RedisQuotaStore(where.split("|")[0], prefix=where.split("|")[1])
        )
        await store.usage(DAY)  # connected before the start signal
        go.wait()
        latencies: list[float] = []
        cpu0, stop = time.process_time(), time.perf_counter() + duration

        async def worker(n: int) -> None:
            i = n
            while time.perf_counter() < stop:
                started = time.perf_counter()
                await store.acquire(rules_of(i), DAY)
                latencies.append(time.perf_counter() - started)
                i += concurrency

        start = time.perf_counter()
        await asyncio.gather(*(worker(n) for n in range(concurrency)))
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu0
        await store.close()
        return {"count": len(latencies), "elapsed": elapsed, "cpu": cpu, "lat": latencies}

    out.put(asyncio.run(run()))


def admissions(kind: str, processes: int, args: argparse.Namespace) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        prefix = f"ndxp-bench:{uuid.uuid4().hex}:"
        where = str(Path(tmp) / "quotas.db") if kind == "sqlite" else f"{args.redis}|{prefix}"
        ctx = mp.get_context("spawn")
        go, out = ctx.Event(), ctx.Queue()
        workers = [
            ctx.Process(target=_admit, args=(kind, where, args.concurrency, args.duration, go, out))
            for _ in range(processes)
        ]
        for worker in workers:
            worker.start()
        time.sleep(2.0)  # every process connected (a benchmark, not a test: no race to lose)
        go.set()
        results = [out.get(timeout=args.duration + 60) for _ in workers]
        for worker in workers:
            worker.join()
        if kind == "redis":
            cleaner = RedisQuotaStore(args.redis, prefix=prefix)
            asyncio.run(_clean(cleaner))
    latencies = sorted(x for r in results for x in r["lat"])
    count = sum(r["count"] for r in results)
    return {
        "admissions_per_s": count / max(r["elapsed"] for r in results),
        "p50_us": latencies[len(latencies) // 2] * 1e6,
        "p99_us": latencies[int(len(latencies) * 0.99)] * 1e6,
        "cpu_us_per_admission": sum(r["cpu"] for r in results) / count * 1e6,
    }


async def _clean(store: RedisQuotaStore) -> None:
    await store.delete_prefix()
    await store.close()


def gateway_throughput(replicas: int, args: argparse.Namespace) -> dict[str, float]:
    import httpx
    from gateway_overhead import raw_get, saturation

    from mock_services.population import sample_ids
    from ndxp_sim.balancer import find_nginx
    from ndxp_sim.testing import running_stack

    env = {
        "NDXP_GATEWAY__WORKERS": str(args.workers),
        "NDXP_GATEWAY__QUOTA_STORE_URL": args.redis,
        "NDXP_GATEWAY__EXCHANGE_LOG_URL": args.postgres
        + ("&" if "?" in args.postgres else "?")
        + f"schema=bench_{uuid.uuid4().hex[:8]}",
    }
    nginx = find_nginx() if replicas > 1 else None
    with (
        tempfile.TemporaryDirectory() as tmp,
        running_stack(Path(tmp), env, replicas=replicas, nginx=nginx, timeout_s=180) as stack,
    ):
        form = {
            "grant_type": "client_credentials",
            "client_id": "onestop-thanh-hoa",
            "client_secret": "dev-secret-thanh-hoa",
        }
        token = httpx.post(stack.gateway_url + "/oauth2/token", data=form).json()["access_token"]
        pid = sample_ids(stack.settings.mocks.seed, "038")[0]
        raw = raw_get(f"/population/v1/citizens/{pid}", {"Authorization": f"Bearer {token}"})
        port = stack.settings.gateway.port
        asyncio.run(saturation(port, raw, args.connections, 2.0))  # warm-up
        result = asyncio.run(saturation(port, raw, args.connections, args.duration))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--part", choices=["all", "stores", "gateway"], default="all")
    parser.add_argument("--duration", type=float, default=8.0, help="seconds per measurement")
    parser.add_argument("--concurrency", type=int, default=16, help="coroutines per process")
    parser.add_argument("--connections", type=int, default=32, help="gateway load connections")
    parser.add_argument("--workers", type=int, default=2, help="uvicorn workers per instance")
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/0")
    parser.add_argument("--postgres", default="postgresql://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    report: dict[str, Any] = {"load_average_before": os.getloadavg()}
    if args.part in ("all", "stores"):
        for kind in ("sqlite", "redis"):
            for processes in (1, 2):
                result = admissions(kind, processes, args)
                report[f"{kind} x{processes} process"] = result
                print(f"{kind:6} {processes} process(es): " + json.dumps(_rounded(result)))
    if args.part in ("all", "gateway"):
        for replicas in (1, 2):
            result = gateway_throughput(replicas, args)
            report[f"gateway x{replicas} instance"] = result
            print(f"gateway {replicas} instance(s): " + json.dumps(_rounded(result)))
    report["load_average_after"] = os.getloadavg()
    print(json.dumps(_rounded(report), indent=2))


def _rounded(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_rounded(v) for v in value]
    return round(value, 1) if isinstance(value, float) else value


if __name__ == "__main__":
    main()
