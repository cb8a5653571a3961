"""What the gateway benchmarks share: the tree under test, processes, nginx, wrk and CPU time.

The tree under test is the one Python imports ``gateway`` from: ``PYTHONPATH=/other/tree``
measures that checkout, and every server process started here gets the same ``PYTHONPATH``.
The gateway is started as production starts it: ``python -m ndxp_sim serve-gateway``
(``uvicorn.run("gateway.server:app_factory", **gateway.server.uvicorn_options())``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil

HERE = Path(__file__).resolve().parent
if str(HERE.parent) not in sys.path:
    sys.path.append(str(HERE.parent))  # after PYTHONPATH: a tree named there wins

import gateway  # noqa: E402
from gateway.registry import Registry, default_registry, render_registry  # noqa: E402
from gateway.testing import free_port  # noqa: E402

__all__ = ["default_registry", "free_port"]  # used by the scripts through this module

TREE = Path(gateway.__file__).resolve().parent.parent
"""The checkout under test (where ``gateway`` was imported from)."""

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
WRK = shutil.which("wrk")
TASKSET = shutil.which("taskset") if (os.cpu_count() or 1) >= 2 else None
CLIENT = ("onestop-thanh-hoa", "dev-secret-thanh-hoa")


def pinned(argv: Sequence[str], core: int | None) -> list[str]:
    """``argv`` pinned to ``core`` with taskset when there is one (and a core is asked for)."""
    if core is None or TASKSET is None:
        return list(argv)
    return [TASKSET, "-c", str(core), *argv]


def server_env(work: Path, **extra: str) -> dict[str, str]:
    """The environment of a server process: no stray NDXP_ settings, the tree under test."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDXP_")}
    env |= {"PYTHONPATH": str(TREE), "NDXP_STATE_DIR": str(work / "state"), **extra}
    return env


@contextmanager
def process(
    argv: list[str], env: dict[str, str], health_url: str | None, log: Path
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait until ``health_url`` answers 2xx; stop it afterwards."""
    with log.open("wb") as out:
        # cwd: the work directory, never a checkout (``-c`` and ``-m`` put the cwd on sys.path)
        proc = subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent)
    try:
        if health_url is not None:
            wait_healthy(proc, health_url, log)
        yield proc
    finally:
        if proc.poll() is None:
            proc.terminate()  # SIGTERM: uvicorn's graceful shutdown flushes the exchange log
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def wait_healthy(proc: subprocess.Popen[bytes], url: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args} exited:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            if httpx.get(url, timeout=2).is_success:
                return
        except httpx.TransportError:
            pass  # not listening yet
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.args} did not start:\n{log.read_text(errors='replace')}")
        time.sleep(0.1)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process and its descendants, from /proc/<pid>/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    pids = [pid]
    try:
        pids += [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0.0
    total = 0
    for p in pids:
        try:
            stat = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue  # gone meanwhile
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15)
    return total / tick


def settle(pid: int, idle_share: float = 0.03, window: float = 0.5, limit: float = 120.0) -> float:
    """Wait until the process tree is idle (work left behind a load — e.g. the exchange log
    catching up — done); return the CPU seconds it spent meanwhile, so a measurement can
    charge that work to the requests that caused it."""
    start = last = cpu_seconds(pid)
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        time.sleep(window)
        now = cpu_seconds(pid)
        if now - last < idle_share * window:
            break
        last = now
    return last - start


def in_work_dir(prefix: str, keep: bool, body: Callable[[Path], None]) -> None:
    """Run ``body`` in a fresh temporary directory; kept on failure (its logs) or with
    ``keep``, removed otherwise."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    body(work)
    if keep:
        print(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)


# --- the gateway --------------------------------------------------------------------------


def gateway_argv() -> list[str]:
    """The production command: ``ndxp-sim serve-gateway`` (port and workers from NDXP_)."""
    return [sys.executable, "-m", "ndxp_sim", "serve-gateway"]


def gateway_env(
    work: Path, port: int, workers: int, registry: Registry, **extra: str
) -> dict[str, str]:
    """Settings of a benchmarked gateway: its registry, port, workers and Prometheus dir."""
    (work / "registry.yaml").write_text(render_registry(registry), encoding="utf-8")
    (work / "prometheus").mkdir(parents=True, exist_ok=True)
    return server_env(
        work,
        NDXP_GATEWAY__REGISTRY_PATH=str(work / "registry.yaml"),
        NDXP_GATEWAY__PORT=str(port),
        NDXP_GATEWAY__WORKERS=str(workers),
        PROMETHEUS_MULTIPROC_DIR=str(work / "prometheus"),
        **extra,
    )


def bench_registry(
    base_urls: dict[str, str], quotas: dict[str, int | None] | None = None
) -> Registry:
    """The shipped registry with the providers at ``base_urls`` and daily quotas set.

    ``quotas`` maps consumer ids to their daily quota (per-service quotas dropped); consumers
    not named get a quota that no run reaches (still counted: every request is admitted
    through the store).
    """
    registry = default_registry()
    providers = [
        p.model_copy(update={"base_url": base_urls[p.name]}) if p.name in base_urls else p
        for p in registry.providers
    ]
    quotas = quotas or {}
    consumers = [
        c.model_copy(update={"daily_quota": quotas.get(c.id, 10**9), "service_quotas": {}})
        for c in registry.consumers
    ]
    return registry.model_copy(update={"providers": providers, "consumers": consumers})


def token(gateway_url: str, client_id: str, secret: str) -> str:
    answer = httpx.post(
        f"{gateway_url}/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
        timeout=30,
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


# --- nginx --------------------------------------------------------------------------------

NGINX_MAIN = """\
daemon off;
master_process on;
worker_processes 1;
pid {work}/nginx-{name}.pid;
error_log {work}/nginx-{name}.error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {work}/nginx-{name}-body;
    proxy_temp_path {work}/nginx-{name}-proxy;
    fastcgi_temp_path {work}/nginx-{name}-fcgi;
    uwsgi_temp_path {work}/nginx-{name}-uwsgi;
    scgi_temp_path {work}/nginx-{name}-scgi;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
{body}
}}
"""


def nginx_literal(text: str) -> str:
    """``text`` as an nginx single-quoted string (``$`` would be a variable: refused)."""
    if "$" in text:
        raise ValueError("a body with '$' cannot be served by nginx `return`")
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def nginx_static_server(
    port: int, locations: Sequence[tuple[str, int, str]], bodies: Path | None = None
) -> str:
    """A server block answering each ``(regex, status, JSON body)``; /healthz answers {}.

    Small bodies are inline (``return``); larger ones (nginx caps a config token at 4 KB) are
    files under ``bodies``, served for any method (a POST's 405 becomes the body, as GET).
    """
    parts = [
        f"    server {{\n        listen 127.0.0.1:{port};\n        default_type application/json;"
    ]
    parts.append("        location = /healthz { return 200 '{}'; }")
    if bodies is not None:
        parts.append(f"        location ~ ^/body-[0-9]+-[0-9]+\\.json$ {{ root {bodies}; }}")
    for number, (regex, status, body) in enumerate(locations):
        if len(body) < 3000 and "$" not in body:
            parts.append(f"        location ~ {regex} {{ return {status} {nginx_literal(body)}; }}")
            continue
        if bodies is None:
            raise ValueError("a large body needs a bodies directory")
        name = f"/body-{port}-{number}.json"
        bodies.mkdir(parents=True, exist_ok=True)
        (bodies / name[1:]).write_text(body, encoding="utf-8")
        parts.append(
            f"        location ~ {regex} {{ root {bodies}; error_page 405 ={status} {name}; "
            f"try_files {name} =404; }}"
        )
    parts.append("    }")
    return "\n".join(parts)


def nginx_proxy_server(port: int, upstream_port: int) -> str:
    """``proxy_pass`` with keep-alive to the upstream (the reference proxy)."""
    return f"""\
    upstream backend {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering on;
        }}
    }}"""


def nginx_argv(work: Path, name: str, servers: str) -> list[str]:
    for temp in ("body", "proxy", "fcgi", "uwsgi", "scgi"):
        (work / f"nginx-{name}-{temp}").mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # nginx's workers run as another user when the master is root
    conf = work / f"nginx-{name}.conf"
    conf.write_text(NGINX_MAIN.format(work=work, name=name, body=servers), encoding="utf-8")
    assert NGINX is not None
    return [NGINX, "-c", str(conf), "-e", str(work / f"nginx-{name}.error.log")]


# --- wrk ----------------------------------------------------------------------------------

WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests": %d, "duration_us": %d, "connect": %d, "read": %d, "write": %d, ' ..
    '"status": %d, "timeout": %d, "p50_us": %d, "p90_us": %d, "p99_us": %d, "max_us": %d}\n',
    summary.requests, summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def wrk_headers_script(headers: dict[str, str]) -> str:
    """A wrk Lua script that adds ``headers`` to every request and prints a JSON summary."""
    lines = [f'wrk.headers["{k}"] = "{v}"' for k, v in headers.items()]
    return "\n".join(lines) + "\n" + WRK_DONE


def run_wrk(
    url: str, script: Path, *, duration: float, connections: int, core: int | None
) -> dict[str, Any]:
    """One wrk run (1 thread); its JSON summary plus req/s."""
    argv = pinned(
        [
            WRK or "wrk",
            "-t1",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            url,
        ],
        core,
    )
    out = subprocess.run(argv, capture_output=True, text=True, check=True, timeout=duration + 120)
    line = next(x for x in out.stdout.splitlines() if x.startswith("WRK_JSON "))
    result: dict[str, Any] = json.loads(line.removeprefix("WRK_JSON "))
    result["rps"] = result["requests"] / (result["duration_us"] / 1e6)
    result["errors"] = sum(result[k] for k in ("connect", "read", "write", "status", "timeout"))
    return result
