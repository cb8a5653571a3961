"""Quotas stay exact when several OS processes (uvicorn workers) share one SQLite store.

Each worker process opens its own :class:`SqliteQuotaStore` on the same file, reports ready,
waits for a common start signal on stdin, then fires all its ``acquire`` calls at once. The
parent counts what was admitted and reads the counters back through a fresh store, which is
also what a restarted gateway would see.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from gateway.quotas import QuotaRule, SqliteQuotaStore

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
DAY = date(2025, 3, 14)

WORKER = """
import asyncio, json, sys
from datetime import date
from pathlib import Path
from gateway.quotas import QuotaRule, SqliteQuotaStore

async def main(path, day, rules, calls):
    store = SqliteQuotaStore(Path(path))
    await store.usage(date.fromisoformat(day))  # open the connection before the start signal
    print("ready", flush=True)
    sys.stdin.readline()
    quota_rules = [QuotaRule(**rule) for rule in rules]
    decisions = await asyncio.gather(
        *(store.acquire(quota_rules, date.fromisoformat(day)) for _ in range(calls))
    )
    await store.close()
    print(json.dumps({"admitted": sum(d.admitted for d in decisions)}), flush=True)

asyncio.run(main(*json.loads(sys.argv[1])))
"""


def kill_survivors(workers: list[subprocess.Popen[str]]) -> None:
    for worker in workers:
        if worker.poll() is None:
            worker.kill()


def run_workers(path: Path, plans: list[tuple[list[QuotaRule], int]]) -> list[int]:
    """Start one process per plan (rules, concurrent calls), release them together, collect."""
    with contextlib.ExitStack() as stack:
        workers = []
        for rules, calls in plans:
            args = [str(path), DAY.isoformat(), [vars(rule) for rule in rules], calls]
            worker = subprocess.Popen(
                [sys.executable, "-c", WORKER, json.dumps(args)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                cwd=path.parent,
                env={**os.environ, "PYTHONPATH": str(REPO)},
            )
            workers.append(stack.enter_context(worker))  # pipes closed, process reaped
        stack.callback(kill_survivors, workers)  # runs first on the way out (LIFO)
        for worker in workers:
            assert worker.stdout is not None
            assert worker.stdout.readline().strip() == "ready"
        for worker in workers:  # the start signal: every process is connected and waiting
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        results: list[dict[str, Any]] = []
        for worker in workers:
            out, _ = worker.communicate(timeout=60)
            assert worker.returncode == 0
            results.append(json.loads(out.strip().splitlines()[-1]))
    return [result["admitted"] for result in results]


async def read_usage(path: Path) -> dict[str, int]:
    store = SqliteQuotaStore(path)  # a fresh store: what a restarted gateway reads
    try:
        return await store.usage(DAY)
    finally:
        await store.close()


async def test_four_processes_never_admit_more_than_the_service_limit(tmp_path: Path) -> None:
    path = tmp_path / "quotas.db"
    consumer = QuotaRule(key="onestop-nghe-an", policy="daily", limit=10_000)
    service = QuotaRule(
        key="onestop-nghe-an|population.get_citizen",
        policy="daily-population.get_citizen",
        limit=100,
    )
    admitted = run_workers(path, [([consumer, service], 80)] * 4)  # 320 in flight
    assert sum(admitted) == 100
    assert await read_usage(path) == {consumer.key: 100, service.key: 100}


async def test_consumer_limit_is_exact_and_all_or_nothing_across_processes(
    tmp_path: Path,
) -> None:
    # Two services share one consumer-wide quota of 90, each capped at 60: workers race on
    # both counters at once, and a rejected call must not move either of them.
    path = tmp_path / "quotas.db"
    consumer = QuotaRule(key="onestop-hue", policy="daily", limit=90)
    services = [
        QuotaRule(key=f"onestop-hue|{name}", policy=f"daily-{name}", limit=60)
        for name in ("population.get_citizen", "civil-registry.get_dossier")
    ]
    plans = [([consumer, services[i % 2]], 70) for i in range(4)]  # 280 in flight
    admitted = run_workers(path, plans)
    usage = await read_usage(path)
    assert sum(admitted) == 90
    assert usage[consumer.key] == 90
    assert usage[services[0].key] + usage[services[1].key] == 90
    assert max(usage[services[0].key], usage[services[1].key]) <= 60
