"""Prometheus beside the stack, for ``ndxp-sim up --observe``: the same scrape config as compose.

The scrape config is committed once, for docker-compose's service names
(``deploy/prometheus/prometheus.yml``: the gateway at ``gateway:8000``). Here it is rendered
for this machine — the gateway's host and port from settings, Prometheus on loopback — and
written under the state directory with Prometheus' own data, so nothing lands elsewhere.
Prometheus is the Debian package's binary (``apt-get install prometheus``) or any
``prometheus`` on ``PATH``; without one, ``--observe`` says how to get it rather than failing
the stack.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from ndxp_config.settings import Settings
from ndxp_sim.supervisor import Service, StartupError, start_all

ROOT = Path(__file__).resolve().parent.parent
COMMITTED_CONFIG = ROOT / "deploy" / "prometheus" / "prometheus.yml"
DEFAULT_PORT = 9090
GATEWAY_JOB = "ndxp-gateway"
HOPS_JOB = "ndxp-hops"
SELF_JOB = "prometheus"
INSTALL_HINT = "install it with `sudo apt-get install -y prometheus` (Debian/Ubuntu)"


class ObserveError(RuntimeError):
    """Prometheus is missing or did not become ready; the message says what to do."""


def find_prometheus() -> str | None:
    """The ``prometheus`` binary on ``PATH`` (the Debian package puts it in /usr/bin)."""
    return shutil.which("prometheus")


def _loopback(host: str) -> str:
    return "127.0.0.1" if host in ("0.0.0.0", "", "::") else host


def render_config(
    settings: Settings,
    *,
    port: int = DEFAULT_PORT,
    scrape_interval: str | None = None,
    committed: Path = COMMITTED_CONFIG,
    gateway_targets: list[str] | None = None,
) -> str:
    """The committed scrape config, pointed at this machine's gateway, hops and Prometheus.

    ``gateway_targets`` (``host:port``) are the gateway instances of ``up --replicas``, each
    scraped on its own; by default the one gateway of the settings. The committed file finds
    compose's replicas by DNS; here they are listed (``static_configs``).
    """
    config: dict[str, Any] = yaml.safe_load(committed.read_text(encoding="utf-8"))
    targets = {
        GATEWAY_JOB: gateway_targets
        or [f"{_loopback(settings.gateway.host)}:{settings.gateway.port}"],
        HOPS_JOB: [f"{_loopback(hop.host)}:{hop.port}" for hop in (settings.lgsp, settings.vdxp)],
        SELF_JOB: [f"127.0.0.1:{port}"],
    }
    jobs = [job for job in config["scrape_configs"] if job["job_name"] in targets]
    if {job["job_name"] for job in jobs} != set(targets):
        raise ObserveError(f"{committed}: expected the jobs {sorted(targets)}")
    for job in jobs:
        job.pop("dns_sd_configs", None)
        job["static_configs"] = [{"targets": targets[job["job_name"]]}]
    config["scrape_configs"] = jobs
    if scrape_interval is not None:
        config.setdefault("global", {})["scrape_interval"] = scrape_interval
    return yaml.safe_dump(config, sort_keys=False)


def prometheus_service(
    settings: Settings,
    *,
    port: int = DEFAULT_PORT,
    binary: str | None = None,
    scrape_interval: str | None = None,
    env: Mapping[str, str] | None = None,
    gateway_targets: list[str] | None = None,
) -> Service:
    """A supervisor :class:`Service` running Prometheus on ``127.0.0.1:port``.

    Config and TSDB go under ``<state_dir>/observe/`` (``prometheus/`` there is already
    prometheus_client's multiprocess directory). Raises :class:`ObserveError` if no binary.
    """
    binary = binary or find_prometheus()
    if binary is None:
        raise ObserveError(f"prometheus is not installed; {INSTALL_HINT}")
    directory = settings.state_dir.resolve() / "observe"
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "prometheus.yml"
    config.write_text(
        render_config(
            settings, port=port, scrape_interval=scrape_interval, gateway_targets=gateway_targets
        ),
        encoding="utf-8",
    )
    argv = [
        binary,
        f"--config.file={config}",
        f"--storage.tsdb.path={directory / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--storage.tsdb.retention.time=7d",
    ]
    return Service(
        "prometheus",
        f"http://127.0.0.1:{port}",
        argv,
        dict(os.environ if env is None else env),
        settings.state_dir.resolve() / "logs" / "prometheus.log",
        health_path="/-/ready",  # Prometheus has no /healthz
    )


def start_prometheus(
    settings: Settings,
    *,
    port: int = DEFAULT_PORT,
    scrape_interval: str | None = None,
    env: Mapping[str, str] | None = None,
    timeout_s: float = 30.0,
    gateway_targets: list[str] | None = None,
) -> Service:
    """Start Prometheus scraping the gateway (every instance of ``gateway_targets``) and wait
    until it is ready; stop it on failure."""
    service = prometheus_service(
        settings,
        port=port,
        scrape_interval=scrape_interval,
        env=env,
        gateway_targets=gateway_targets,
    )
    try:
        start_all([service], timeout_s)
    except StartupError as exc:
        raise ObserveError(str(exc)) from None
    return service
