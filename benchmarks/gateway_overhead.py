"""What the NDXP gateway costs per exchange, measured beside nginx and a Python ceiling in one run.

Real servers on loopback, each its own process:

* the **upstream**: by default (``--upstream static``) nginx answering one citizen lookup with
  the exact body the population mock gives (fetched from the real mock at start); with
  ``--upstream mock`` the population mock itself. Without nginx, a minimal uvloop server
  serves that body and the nginx column is skipped (said so);
* the columns, each proxying to that upstream: **direct** (no proxy), **nginx** ``proxy_pass``
  with keep-alive (the reference), the **Python ceiling** (``benchmarks/proxy_ceiling.py``:
  uvloop + asyncio Protocols + httptools, no features), and the **ndxp gateway** started as
  production starts it (``python -m ndxp_sim serve-gateway``: uvicorn with
  ``gateway.server.uvicorn_options()``, the EdgeProtocol), every feature on — the run probes
  each (auth, rights, quota, contract check, exchange log, metrics, log line) and prints them.

Load: ``wrk`` (1 thread, ``--connections``, a Lua script adding the Authorization header),
pinned to core 0 with the upstream; the proxy under test pinned to core 1 (``taskset``);
``--workers N`` runs N gateway workers (and N nginx workers) unpinned. Rounds are
interleaved (every column once per round); the table gives the median over rounds of req/s,
p50/p99 and CPU per request (utime + stime of the proxy's processes from /proc over the
window and until they are idle again — the exchange log's catching up is charged to the load
that caused it — divided by the requests answered). Then the added latency at a fixed rate (open
loop, Python generator) and, with ``--profile``, py-spy on the gateway worker.

The tree measured is the one ``gateway`` is imported from::

    .venv/bin/python benchmarks/gateway_overhead.py                      # 4 rounds x 10 s
    .venv/bin/python benchmarks/gateway_overhead.py --quick              # smoke: 1 round x 2 s
    .venv/bin/python benchmarks/gateway_overhead.py --workers 2
    .venv/bin/python benchmarks/gateway_overhead.py --profile
    PYTHONPATH=/other/tree .venv/bin/python /other/tree/benchmarks/gateway_overhead.py
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import bench_stack as bs  # benchmarks/ is this script's directory, on sys.path
import httpx
from bench_load import fixed_rate, on_core, raw_get, saturation
from bench_profile import print_table, start_recording

from mock_services.population import sample_ids
from ndxp_config.settings import DEV_ADMIN_TOKEN

SEED = 2024
LOAD_CORE, PROXY_CORE = 0, 1
BROKEN_ID = "000000000000"  # the static upstream answers it with a body that breaks the contract
RIGHTS_PROBE = "onestop-ha-noi"  # subscribed to civil-registry.* only in this run's registry

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


def mock_argv(port: int) -> list[str]:
    serve = (
        "import uvicorn; from mock_services.population import create_app; "
        "from ndxp_config.settings import get_settings; "
        f"uvicorn.run(create_app(get_settings()), port={port}, log_level='warning')"
    )
    return [sys.executable, "-c", serve]


def mock_body(work: Path, path: str) -> bytes:
    """The population mock's exact response body for ``path`` (a real mock, started once)."""
    port = bs.free_port()
    env = bs.server_env(work, NDXP_MOCKS__SEED=str(SEED))
    with bs.process(mock_argv(port), env, f"http://127.0.0.1:{port}/healthz", work / "mock0.log"):
        answer = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=30)
        answer.raise_for_status()
        return answer.content


class Column:
    def __init__(self, key: str, name: str, port: int, path: str, pid: int) -> None:
        self.key, self.name, self.port, self.path, self.pid = key, name, port, path, pid
        self.rounds: list[dict[str, Any]] = []

    def median(self, key: str) -> float:
        return statistics.median(r[key] for r in self.rounds)


def measure(
    col: Column, args: argparse.Namespace, script: Path, auth: str, seconds: float
) -> dict[str, Any]:
    """One load on one column; CPU per request of the column's processes over the window and
    until they are idle again."""
    url = f"http://127.0.0.1:{col.port}{col.path}"
    core = LOAD_CORE if args.workers == 1 else None
    before = bs.cpu_seconds(col.pid)
    if bs.WRK:
        result = bs.run_wrk(url, script, duration=seconds, connections=args.connections, core=core)
    else:
        raw = raw_get(col.path, {"Authorization": auth})
        with on_core(core):
            result = asyncio.run(saturation(col.port, raw, args.connections, seconds))
    # Work the load left behind (the exchange log catching up) is charged to it, and the next
    # load starts on an idle process.
    spent = bs.cpu_seconds(col.pid) - before + bs.settle(col.pid)
    result["cpu_us"] = spent / max(1, result["requests"]) * 1e6
    return result


def probe_features(
    gateway_url: str, token: str, rights_token: str, path: str, log: Path, static: bool
) -> dict[str, str]:
    """Each feature, seen working on this gateway (not assumed from its settings)."""
    seen: dict[str, str] = {}
    bare = httpx.get(f"{gateway_url}{path}", timeout=30)
    seen["auth"] = "on" if bare.status_code == 401 else f"OFF? (no token: {bare.status_code})"
    other = httpx.get(
        f"{gateway_url}{path}", headers={"Authorization": f"Bearer {rights_token}"}, timeout=30
    )
    seen["rights"] = (
        "on" if other.status_code == 403 else f"OFF? (unsubscribed: {other.status_code})"
    )
    ok = httpx.get(f"{gateway_url}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30)
    if ok.status_code != 200:
        raise RuntimeError(f"the gateway answered {ok.status_code}: {ok.text[:500]}")
    seen["quota"] = "on" if "ratelimit" in ok.headers else "OFF? (no RateLimit header)"
    if "x-ndxp-contract-violations" in ok.headers:
        raise RuntimeError(f"the upstream's body breaks the contract: {ok.headers}")
    if static:
        broken = httpx.get(
            f"{gateway_url}/population/v1/citizens/{BROKEN_ID}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=30,
        )
        flagged = "x-ndxp-contract-violations" in broken.headers
        seen["contract check"] = "on" if flagged else "OFF? (a broken body was not flagged)"
    else:
        seen["contract check"] = "on (not probed: mock upstream)"
    exchange_id = ok.headers["x-ndxp-exchange-id"]
    admin = {"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"}
    deadline = time.monotonic() + 15
    seen["exchange log"] = seen["log line"] = "OFF? (not seen in 15 s)"
    while time.monotonic() < deadline:
        got = httpx.get(f"{gateway_url}/admin/exchanges/{exchange_id}", headers=admin, timeout=30)
        if got.status_code == 200:
            seen["exchange log"] = "on"
        if exchange_id in log.read_text(errors="replace"):
            seen["log line"] = "on"
        if seen["exchange log"] == seen["log line"] == "on":
            break
        time.sleep(0.2)
    metrics = httpx.get(f"{gateway_url}/metrics", timeout=30).text
    counted = any(
        line.startswith("ndxp_exchanges_total") and "population.get_citizen" in line
        for line in metrics.splitlines()
    )
    seen["metrics"] = "on" if counted else "OFF? (ndxp_exchanges_total lacks the call)"
    return seen


def print_results(cols: list[Column], args: argparse.Namespace) -> dict[str, float]:
    print(
        f"\n{'proxy (median of rounds)':<44}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'CPU/req µs':>12}{'errors':>8}"
    )
    for col in cols:
        errors = sum(r["errors"] for r in col.rounds)
        print(
            f"{col.name:<44}{col.median('rps'):>9.0f}{col.median('p50_us') / 1000:>9.2f}"
            f"{col.median('p99_us') / 1000:>9.2f}{col.median('cpu_us'):>12.0f}{errors:>8}"
        )
    by = {c.key: c for c in cols}
    ratios: dict[str, float] = {}
    gateway = by["gateway"]
    print()
    for ref in ("nginx", "ceiling"):
        if ref in by:
            rps = gateway.median("rps") / by[ref].median("rps")
            cpu = gateway.median("cpu_us") / by[ref].median("cpu_us")
            ratios[f"gateway/{ref} req/s"], ratios[f"gateway/{ref} cpu"] = rps, cpu
            print(f"gateway/{ref}: req/s x{rps:.3f}, CPU per request x{cpu:.1f}")
    if "nginx" in by and "ceiling" in by:
        rps = by["ceiling"].median("rps") / by["nginx"].median("rps")
        ratios["ceiling/nginx req/s"] = rps
        print(f"ceiling/nginx: req/s x{rps:.3f}")
    return ratios


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--upstream", choices=["static", "mock"], default="static")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per load")
    parser.add_argument("--rounds", type=int, default=4, help="interleaved rounds (median)")
    parser.add_argument("--connections", type=int, default=50)
    parser.add_argument("--workers", type=int, default=1, help="gateway workers (>1: unpinned)")
    parser.add_argument("--rate", type=float, default=300.0, help="fixed-rate load; 0 skips it")
    parser.add_argument("--profile", action="store_true", help="py-spy the gateway worker")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, store)")
    parser.add_argument("--quick", action="store_true", help="smoke: 1 round of 2 s")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    if args.quick:
        args.duration, args.rounds = 2.0, 1
    bs.in_work_dir("ndxp-overhead-", args.keep, lambda work: run(args, work))


def run(args: argparse.Namespace, work: Path) -> None:
    personal_id = sample_ids(SEED, "038")[0]
    path = f"/v1/citizens/{personal_id}"
    ports = {name: bs.free_port() for name in ("upstream", "nginx", "ceiling", "gateway")}
    pin_proxy = PROXY_CORE if args.workers == 1 else None
    pin_load = LOAD_CORE if args.workers == 1 else None
    print(f"tree under test: {bs.TREE}")
    if not bs.NGINX:
        print(
            "nginx not found (apt-get install nginx): static upstream served by a minimal "
            "uvloop server; the nginx column is skipped"
        )
    if not bs.WRK:
        print("wrk not found (apt-get install wrk): a Python load generator is used instead")
    if not bs.TASKSET:
        print("taskset not found (or one core): nothing is pinned")
    body = mock_body(work, path)
    up_url = f"http://127.0.0.1:{ports['upstream']}"
    static = args.upstream == "static" and bs.NGINX is not None
    if args.upstream == "mock":
        up_argv = mock_argv(ports["upstream"])
    elif static:
        broken = b'{"personal_id": "000000000000"}'
        locations = [
            (f"^/v1/citizens/{personal_id}$", 200, body.decode()),
            (f"^/v1/citizens/{BROKEN_ID}$", 200, broken.decode()),
        ]
        up_argv = bs.nginx_argv(
            work, "upstream", bs.nginx_static_server(ports["upstream"], locations)
        )
    else:
        (work / "citizen.json").write_bytes(body)
        (work / "upstream.py").write_text(MINIMAL_UPSTREAM, encoding="utf-8")
        up_argv = [
            sys.executable,
            str(work / "upstream.py"),
            str(ports["upstream"]),
            str(work / "citizen.json"),
        ]

    registry = bs.bench_registry({"population": up_url})
    registry = registry.model_copy(
        update={
            "consumers": [
                c.model_copy(update={"subscriptions": ["civil-registry.*"]})
                if c.id == RIGHTS_PROBE
                else c
                for c in registry.consumers
            ]
        }
    )
    gw_env = bs.gateway_env(
        work, ports["gateway"], args.workers, registry, NDXP_MOCKS__SEED=str(SEED)
    )
    env = bs.server_env(work, NDXP_MOCKS__SEED=str(SEED))

    with ExitStack() as stack:
        start = stack.enter_context
        up = start(
            bs.process(bs.pinned(up_argv, pin_load), env, f"{up_url}/healthz", work / "up.log")
        )
        cols = [Column("direct", "direct (no proxy)", ports["upstream"], path, up.pid)]
        if bs.NGINX:
            conf = bs.nginx_proxy_server(ports["nginx"], ports["upstream"])
            argv = bs.nginx_argv(work, "proxy", conf)
            if args.workers > 1:
                conf_path = work / "nginx-proxy.conf"
                conf_path.write_text(
                    conf_path.read_text().replace(
                        "worker_processes 1;", f"worker_processes {args.workers};"
                    )
                )
            nginx = start(
                bs.process(
                    bs.pinned(argv, pin_proxy),
                    env,
                    f"http://127.0.0.1:{ports['nginx']}{path}",
                    work / "nginx.log",
                )
            )
            cols.append(
                Column(
                    "nginx",
                    f"nginx proxy_pass keep-alive ({args.workers} w)",
                    ports["nginx"],
                    path,
                    nginx.pid,
                )
            )
        ceiling_argv = [
            sys.executable,
            str(bs.HERE / "proxy_ceiling.py"),
            str(ports["ceiling"]),
            str(ports["upstream"]),
        ]
        ceiling = start(
            bs.process(
                bs.pinned(ceiling_argv, pin_proxy),
                env,
                f"http://127.0.0.1:{ports['ceiling']}/healthz",
                work / "ceiling.log",
            )
        )
        cols.append(
            Column(
                "ceiling",
                "Python ceiling: bare uvloop proxy (1 proc)",
                ports["ceiling"],
                path,
                ceiling.pid,
            )
        )
        gateway_url = f"http://127.0.0.1:{ports['gateway']}"
        gw = start(
            bs.process(
                bs.pinned(bs.gateway_argv(), pin_proxy),
                gw_env,
                f"{gateway_url}/healthz",
                work / "gateway.log",
            )
        )
        gw_path = "/population" + path
        cols.append(
            Column(
                "gateway",
                f"gateway, {args.workers} worker(s), all features",
                ports["gateway"],
                gw_path,
                gw.pid,
            )
        )

        token = bs.token(gateway_url, *bs.CLIENT)
        probe = next(c for c in registry.consumers if c.id == RIGHTS_PROBE)
        rights_token = bs.token(
            gateway_url, probe.client_id, probe.client_secret.get_secret_value()
        )
        features = probe_features(
            gateway_url, token, rights_token, gw_path, work / "gateway.log", static
        )
        auth = f"Bearer {token}"
        script = work / "auth.lua"
        script.write_text(bs.wrk_headers_script({"Authorization": auth}), encoding="utf-8")

        upstream = "nginx static" if static else "population mock"
        if args.upstream == "static" and not static:
            upstream = "minimal uvloop static"
        generator = "wrk" if bs.WRK else "Python"
        print(
            f"upstream: {upstream} ({len(body)} B body of the population mock); load: "
            f"{generator} 1 thread, {args.connections} connections; {args.rounds} rounds x "
            f"{args.duration:g} s, interleaved"
        )
        pinning = pin_proxy is not None and bs.TASKSET
        print(f"pinning: {'load + upstream core 0, proxy core 1' if pinning else 'none'}")
        print("gateway features: " + ", ".join(f"{k} {v}" for k, v in features.items()))
        print(
            "gateway server: python -m ndxp_sim serve-gateway (uvicorn with "
            "gateway.server.uvicorn_options(): EdgeProtocol, uvloop)"
        )

        for col in cols:  # warm-up
            measure(col, args, script, auth, min(2.0, args.duration))
        for number in range(args.rounds):
            for col in cols:
                col.rounds.append(measure(col, args, script, auth, args.duration))
            print(
                f"round {number + 1}: "
                + ", ".join(f"{c.key} {c.rounds[-1]['rps']:.0f}/s" for c in cols),
                flush=True,
            )
        ratios = print_results(cols, args)

        added: dict[str, float] = {}
        if args.rate > 0:
            fixed = {}
            for col in (cols[0], cols[-1]):
                raw = raw_get(col.path, {"Authorization": auth})
                with on_core(pin_load):
                    fixed[col.key] = asyncio.run(
                        fixed_rate(col.port, raw, args.rate, args.duration)
                    )
            added = {
                p: (fixed["gateway"][f"{p}_us"] - fixed["direct"][f"{p}_us"]) / 1000
                for p in ("p50", "p99")
            }
            print(
                f"added latency at {args.rate:.0f} req/s (open loop, Python generator): "
                f"p50 {added['p50']:.2f} ms, p99 {added['p99']:.2f} ms"
            )

        if args.profile:
            profile(gw.pid, args, cols[-1], script, auth, work)

    if args.json:
        table = {
            c.name: {k: c.median(k) for k in ("rps", "p50_us", "p99_us", "cpu_us")} for c in cols
        }
        print(
            json.dumps(
                {"columns": table, "ratios": ratios, "added_ms": added, "features": features},
                indent=2,
            )
        )


def profile(
    pid: int, args: argparse.Namespace, col: Column, script: Path, auth: str, work: Path
) -> None:
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(py_spy).exists():
        print("\npy-spy not found: pip install py-spy (in the dev extras)")
        return
    import psutil

    children = psutil.Process(pid).children()
    worker = children[0].pid if args.workers > 1 and children else pid
    out = work / "profile.raw"
    recorder = start_recording(py_spy, worker, args.duration, out)
    measure(col, args, script, auth, args.duration + 1)
    _, err = recorder.communicate(timeout=args.duration + 60)
    if recorder.returncode != 0 or not out.exists():
        print(f"\npy-spy failed: {err.decode(errors='replace')[-500:]}")
        return
    print_table(out.read_text())


if __name__ == "__main__":
    main()
