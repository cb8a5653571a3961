"""A national day through the gateway: 2.8 M exchanges (REPORTS.md), compressed in time.

The day's volume (``--scale`` of NDXP's 2.8 M exchanges a day) is replayed through the real
gateway (``python -m ndxp_sim serve-gateway``, ``--workers``, every feature on) to the real
mocks (``--upstream mocks``) or to nginx answering each operation with a body the real mock
gave (``--upstream static``). What is sent:

* **the mix** is the provinces' (``loadtests/provinces.py``): one-stop desks (weight 4:
  licence renewal intake 4, household verification 3, linked birth registration 2) and
  dossier syncs (weight 1: business dossier sync 4, civil status sync 1), each flow's calls
  in order, by provinces weighted by population; ids come from the real mocks, read once
  before the run (directly, not through the gateway); birth registrations get a fresh
  dossier code each;
* **the shape** is the business day of ``loadtests/shapes.py`` (00:00-24:00) played in
  ``--minutes`` (default 30 x scale): wrk paces requests to the day's rate at each moment;
  a gateway slower than the peak falls behind, and the wall time says so.

wrk (1 thread, a Lua script cycling through the precomputed requests) stops after exactly the
planned number of exchanges. After the gateway has shut down (flushing its exchange log)
the store is read: records logged must equal the answers, and each consumer's admitted
exchanges are held against its daily quota — all are set to admit the day, except one
(``--tight``) given a small quota on purpose, which must admit exactly that many.

    .venv/bin/python benchmarks/national_day.py --scale 0.01             # 28,000 exchanges
    .venv/bin/python benchmarks/national_day.py --upstream static        # the full day
    .venv/bin/python benchmarks/national_day.py --quick                  # smoke: 2,000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import bench_stack as bs  # benchmarks/ is this script's directory, on sys.path
import day_plan

from gateway.exchange_log import ExchangeQuery, open_record_store
from loadtests.shapes import NDXP_EXCHANGES_PER_DAY

SEED = 2024
MOCKS = ("population", "business-registry", "driver-licence", "civil-registry")


def mock_env(work: Path, ports: dict[str, int]) -> dict[str, str]:
    return bs.server_env(work, NDXP_MOCKS__SEED=str(SEED), NDXP_MOCKS__PORTS=json.dumps(ports))


def start_mocks(stack: ExitStack, work: Path, ports: dict[str, int]) -> None:
    env = mock_env(work, ports)
    for name in MOCKS:
        argv = [sys.executable, "-m", "ndxp_sim", "serve-mock", name]
        url = f"http://127.0.0.1:{ports[name]}/healthz"
        stack.enter_context(bs.process(argv, env, url, work / f"mock-{name}.log"))


def static_upstream(
    work: Path, ports: dict[str, int], bodies: dict[tuple[str, str], tuple[int, str]]
) -> list[str]:
    """One nginx, a server per provider, each operation answered with the mock's body."""
    registry = bs.default_registry()
    servers = []
    for provider in registry.providers:
        if provider.name not in ports:
            continue  # a provider the day's flows never call
        locations = []
        for op in provider.operations:
            status, body = bodies.get((provider.name, op.id), (200, "{}"))
            regex = "^" + day_plan.template_regex(op.path) + "$"
            locations.append((regex, status, body))
        servers.append(bs.nginx_static_server(ports[provider.name], locations, work / "bodies"))
    return bs.nginx_argv(work, "static", "\n".join(servers))


def read_store(state: Path, since: Any, consumers: list[str]) -> dict[str, Any]:
    """Totals from the gateway's exchange log store (after its shutdown)."""

    async def run() -> dict[str, Any]:
        store = open_record_store(None, state)
        await store.open()
        try:
            total = (await store.query(ExchangeQuery(since=since, limit=1))).total
            refused: dict[str, int] = {}
            logged: dict[str, int] = {}
            for consumer in consumers:
                q = ExchangeQuery(consumer=consumer, since=since, limit=1)
                logged[consumer] = (await store.query(q)).total
                q = ExchangeQuery(consumer=consumer, outcome="quota_exceeded", since=since, limit=1)
                refused[consumer] = (await store.query(q)).total
            return {"total": total, "logged": logged, "refused": refused}
        finally:
            await store.close()

    return asyncio.run(run())


def run_until_summary(argv: list[str]) -> str:
    """Run wrk until its script prints the summary (all answered), then stop it."""
    wrk = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert wrk.stdout is not None
    seen = []
    for line in wrk.stdout:
        if line.startswith("DAY_JSON "):
            wrk.send_signal(signal.SIGINT)  # wrk would sleep out its -d otherwise
            wrk.wait(30)
            return line
        seen.append(line)
    wrk.wait()
    raise RuntimeError("wrk printed no summary:\n" + "".join(seen[-30:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", choices=["mocks", "static"], default="mocks")
    parser.add_argument("--scale", type=float, default=1.0, help="share of the 2.8 M day")
    parser.add_argument(
        "--minutes", type=float, help="wall time of the compressed day (30 x scale)"
    )
    parser.add_argument("--workers", type=int, default=2, help="gateway workers")
    parser.add_argument("--connections", type=int, default=64, help="wrk connections")
    parser.add_argument(
        "--tight", default="onestop-bac-kan", help="the consumer given a small quota"
    )
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, store)")
    parser.add_argument("--quick", action="store_true", help="smoke: 2,000 exchanges in ~20 s")
    args = parser.parse_args()
    if args.quick:
        args.scale, args.minutes = 2000 / NDXP_EXCHANGES_PER_DAY, 1 / 3
    if args.minutes is None:
        args.minutes = 30 * args.scale
    if not bs.WRK:
        sys.exit("wrk not found (apt-get install wrk): the national day needs it")
    if args.upstream == "static" and not bs.NGINX:
        sys.exit("nginx not found (apt-get install nginx): use --upstream mocks")
    bs.in_work_dir("ndxp-day-", args.keep, lambda work: run(args, work))


def run(args: argparse.Namespace, work: Path) -> None:
    total = round(NDXP_EXCHANGES_PER_DAY * args.scale)
    ports = {name: bs.free_port() for name in MOCKS}
    gw_port = bs.free_port()
    gateway_url = f"http://127.0.0.1:{gw_port}"
    print(f"tree under test: {bs.TREE}")
    print(
        f"national day x{args.scale:g}: {total:,} exchanges in a {args.minutes:g}-minute day; "
        f"upstream: {args.upstream}; gateway: {args.workers} worker(s), all features on"
    )

    with ExitStack() as stack:
        mocks = ExitStack()
        start_mocks(mocks, work, ports)
        urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
        pools, bodies = day_plan.discover(urls, SEED, random.Random(SEED))
        if args.upstream == "static":
            mocks.close()  # nginx takes their ports
            argv = static_upstream(work, ports, bodies)
            url = f"http://127.0.0.1:{ports['population']}/healthz"
            stack.enter_context(bs.process(argv, bs.server_env(work), url, work / "nginx.log"))
        else:
            stack.enter_context(mocks)
        plan = day_plan.build(pools, total, random.Random(SEED + 1))
        sent_by = Counter(plan.consumer_of(i) for i in range(total))
        if sent_by[args.tight] < 2:
            raise SystemExit(f"--tight {args.tight} sends {sent_by[args.tight]}: pick another")
        tight_quota = sent_by[args.tight] // 2  # half its calls: the rest must be 429
        registry = bs.bench_registry(urls, {args.tight: tight_quota})
        env = bs.gateway_env(
            work,
            gw_port,
            args.workers,
            registry,
            NDXP_MOCKS__SEED=str(SEED),
            NDXP_GATEWAY__TOKEN_TTL_S="86400",
        )
        gw = stack.enter_context(
            bs.process(bs.gateway_argv(), env, f"{gateway_url}/healthz", work / "gateway.log")
        )
        tokens = {
            c.id: bs.token(gateway_url, c.client_id, c.client_secret.get_secret_value())
            for c in registry.consumers
            if c.id in plan.consumers
        }
        script = work / "day.lua"
        script.write_text(day_plan.lua(plan, tokens, total, args.minutes * 60), encoding="utf-8")
        from datetime import UTC, datetime

        since = datetime.now(UTC)
        started = time.monotonic()
        cpu_before = bs.cpu_seconds(gw.pid)
        bound = int(max(args.minutes * 60 * 6, 600))  # wrk's -d: only if answers go missing
        argv = [bs.WRK, "-t1", f"-c{args.connections}", f"-d{bound}s", "--timeout", "30s",
                "-s", str(script), gateway_url]  # fmt: skip
        line = run_until_summary(argv)
        wall = time.monotonic() - started
        gw_cpu = bs.cpu_seconds(gw.pid) - cpu_before
        result = json.loads(line.removeprefix("DAY_JSON "))
    # the gateway has shut down: its exchange log is flushed to the store
    store = read_store(work / "state", since, sorted(plan.consumers))
    report(args, total, wall, gw_cpu, result, store, sent_by, tight_quota)


def report(
    args: argparse.Namespace,
    total: int,
    wall: float,
    gw_cpu: float,
    result: dict[str, Any],
    store: dict[str, Any],
    sent_by: Counter[str],
    tight_quota: int,
) -> None:
    answers = sum(result["statuses"].values())
    print(
        f"\nwall time: {wall:.1f} s ({wall / 60:.1f} min; target <= 30 min at scale 1: "
        f"{wall / args.scale / 60:.1f} min per national day at this pace)"
    )
    print(
        f"exchanges sent: {result['sent']:,} (planned {total:,}); answers: {answers:,} "
        f"({answers / wall:.0f}/s)"
        + ("" if result["complete"] else "; NOT ALL ANSWERED (-d ran out)")
    )
    print(
        "answers by status: "
        + ", ".join(f"{k} {v:,}" for k, v in sorted(result["statuses"].items()))
    )
    print(f"gateway CPU {gw_cpu:.1f} s ({gw_cpu / max(1, answers) * 1e6:.0f} µs per exchange)")
    ok = "OK" if store["total"] == answers else "MISMATCH"
    print(f"records logged: {store['total']:,}; answers: {answers:,}; records == answers: {ok}")
    print(f"\nquota exactness ({len(sent_by)} consumers):")
    print(f"{'consumer':<28}{'sent':>9}{'logged':>9}{'admitted':>10}{'429':>7}{'limit':>12}  check")
    exact = True
    for consumer in sorted(sent_by, key=lambda c: (c != args.tight, -sent_by[c])):
        sent, logged, refused = (
            sent_by[consumer],
            store["logged"][consumer],
            store["refused"][consumer],
        )
        admitted = logged - refused
        limit = tight_quota if consumer == args.tight else 10**9
        expect = min(sent, limit)
        good = admitted == expect and logged == sent
        exact &= good
        if consumer == args.tight or not good or consumer in list(sent_by)[:0]:
            print(
                f"{consumer:<28}{sent:>9}{logged:>9}{admitted:>10}{refused:>7}{limit:>12}  "
                f"{'exact' if good else 'NOT EXACT'}"
            )
    others = len(sent_by) - 1
    print(
        f"... and {others} others with limit 1e9: admitted == sent for "
        f"{'all' if exact else 'NOT all'}"
    )
    print(f"quota exactness: {'OK' if exact else 'FAILED'}")


if __name__ == "__main__":
    main()
