"""Process supervision for ``ndxp-sim up``: every box of the design is its own OS process.

Each service is started as ``python -m ndxp_sim serve ...`` with the caller's environment (so
``NDXP_*`` settings reach every process), then polled on ``/healthz`` until it answers. Stopping
sends SIGTERM to all (uvicorn shuts down gracefully: the gateway flushes its exchange log), then
SIGKILL to whatever is still alive after a grace period.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from ndxp_config.settings import MOCK_NAMES, Settings


class StartupError(RuntimeError):
    """A service did not become healthy; the message says which and shows its last output."""


@dataclass
class Service:
    name: str
    url: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    health_path: str = "/healthz"  # answers 200 once the service serves (Prometheus: /-/ready)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def plan(
    settings: Settings, *, gateway: bool = True, env: Mapping[str, str] | None = None
) -> list[Service]:
    """The services ``up`` starts, in start order: the four mocks, then the gateway.

    Children inherit ``env`` (default: this process's environment): that is how ``NDXP_*``
    settings reach them.
    """
    state_dir = settings.state_dir.resolve()
    env = {**(os.environ if env is None else env), "NDXP_STATE_DIR": str(state_dir)}
    python = [sys.executable, "-m", "ndxp_sim"]
    services = [
        Service(
            name,
            settings.mocks.url(name),
            [*python, "serve-mock", name],
            env,
            state_dir / "logs" / f"{name}.log",
        )
        for name in MOCK_NAMES
    ]
    if gateway:
        metrics_dir = state_dir / "prometheus"
        services.append(
            Service(
                "gateway",
                settings.gateway.url,
                [*python, "serve-gateway"],
                {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
                state_dir / "logs" / "gateway.log",
            )
        )
    return services


def reset_metrics_dir(settings: Settings) -> None:
    """prometheus_client's multiprocess files must not outlive the processes that wrote them."""
    metrics_dir = settings.state_dir.resolve() / "prometheus"
    shutil.rmtree(metrics_dir, ignore_errors=True)
    metrics_dir.mkdir(parents=True)


def wait_healthy(services: list[Service], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    pending = list(services)
    with httpx.Client(timeout=1.0) as client:
        while pending:
            for service in list(pending):
                assert service.process is not None
                if service.process.poll() is not None:
                    raise StartupError(
                        f"{service.name} exited with code {service.process.returncode} "
                        f"during start-up; last output ({service.log_path}):\n{service.tail()}"
                    )
                try:
                    if client.get(service.url + service.health_path).status_code == 200:
                        pending.remove(service)
                except httpx.TransportError:
                    pass  # not listening yet
            if pending and time.monotonic() > deadline:
                names = ", ".join(s.name for s in pending)
                raise StartupError(
                    f"not healthy after {timeout_s:.0f} s: {names}; "
                    f"is the port taken? Last output:\n{pending[0].tail()}"
                )
            if pending:
                time.sleep(0.1)


def stop(services: list[Service], grace_s: float = 10.0) -> None:
    """SIGTERM everyone, wait for a graceful exit, then SIGKILL the rest."""
    running = [s for s in services if s.process is not None and s.process.poll() is None]
    for service in running:
        assert service.process is not None
        service.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for service in running:
        assert service.process is not None
        try:
            service.process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            service.process.kill()
            service.process.wait()


def start_all(services: list[Service], timeout_s: float = 30.0) -> None:
    """Start every service and wait until all are healthy; on failure, stop them all."""
    try:
        for service in services:
            service.start()
        wait_healthy(services, timeout_s)
    except BaseException:
        stop(services)
        raise
