"""The whole stack on real sockets, for tests, benchmarks and load tests.

:func:`running_stack` starts the four mocks and the gateway as separate OS processes, exactly
as ``ndxp-sim up`` does (through :mod:`ndxp_sim.supervisor`), on free loopback ports and
under a private state directory, and stops them on exit. Settings reach the children through
``NDXP_*`` environment variables; ``env`` adds or overrides any of them (e.g. a registry file
with short timeouts, or ``NDXP_TIME_SCALE`` to run the whole simulation faster: injected waits,
the gateway's timeouts and Retry-After shrink, the fault clock runs faster).
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from gateway.registry import Timeouts
from ndxp_config.settings import MOCK_NAMES, Settings
from ndxp_sim import supervisor

STACK_ADMIN_TOKEN = "stack-admin-token"


def free_ports(count: int) -> list[int]:
    """``count`` distinct TCP ports nobody listens on right now (the OS picks them)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def free_port_run(count: int, attempts: int = 50) -> int:
    """The first of ``count`` consecutive free ports (a gateway and its instances)."""
    for _ in range(attempts):
        (first,) = free_ports(1)
        if first + count > 65_535:
            continue
        sockets = [socket.socket() for _ in range(count)]
        try:
            for offset, sock in enumerate(sockets):
                sock.bind(("127.0.0.1", first + offset))
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
        return first
    raise RuntimeError(f"no run of {count} free ports found in {attempts} attempts")


@dataclass
class Stack:
    """A running stack: its settings (as the children see them) and its processes."""

    settings: Settings
    env: dict[str, str]
    services: list[supervisor.Service] = field(default_factory=list)

    @property
    def gateway_url(self) -> str:
        return self.settings.gateway.url

    @property
    def admin_token(self) -> str:
        return self.settings.gateway.admin_token.get_secret_value()

    @property
    def admin_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.admin_token}"}

    @property
    def live_url(self) -> str:
        """The trainers' live view (started with ``running_stack(..., live=True)``)."""
        return self.settings.live.url

    @property
    def lgsp_url(self) -> str:
        return self.settings.lgsp.url

    @property
    def vdxp_url(self) -> str:
        return self.settings.vdxp.url

    def mock_url(self, name: str) -> str:
        return self.settings.mocks.url(name)  # type: ignore[arg-type]

    def logs(self) -> str:
        """The last lines of every service's log (for assertion messages)."""
        return "\n".join(f"--- {s.name}\n{s.tail(40)}" for s in self.services)


def stack_env(state_dir: Path, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a stack on free ports under ``state_dir``, plus ``env``."""
    gateway_port, *mock_ports = free_ports(1 + len(MOCK_NAMES))
    lgsp_port, vdxp_port = free_ports(2)
    return {
        **os.environ,
        "NDXP_MODE": "dev",
        "NDXP_STATE_DIR": str(state_dir),
        "NDXP_GATEWAY__HOST": "127.0.0.1",
        "NDXP_GATEWAY__PORT": str(gateway_port),
        "NDXP_GATEWAY__ADMIN_TOKEN": STACK_ADMIN_TOKEN,
        "NDXP_MOCKS__HOST": "127.0.0.1",
        "NDXP_MOCKS__PORTS": json.dumps(dict(zip(MOCK_NAMES, mock_ports, strict=True))),
        "NDXP_LGSP__PORT": str(lgsp_port),
        "NDXP_VDXP__PORT": str(vdxp_port),
        **(env or {}),
    }


def settings_from_env(env: Mapping[str, str]) -> Settings:
    """The settings a child process started with ``env`` builds for itself."""
    saved = dict(os.environ)
    try:
        os.environ.clear()
        os.environ.update({k: v for k, v in env.items() if k.startswith("NDXP_")})
        return Settings()
    finally:
        os.environ.clear()
        os.environ.update(saved)


@contextmanager
def running_stack(
    state_dir: Path,
    env: Mapping[str, str] | None = None,
    *,
    gateway: bool = True,
    timeout_s: float = 60.0,
    live: bool = False,
    replicas: int = 1,
    nginx: str | None = None,
    hops: bool = True,
) -> Iterator[Stack]:
    """Start mocks and gateway as OS processes on free ports; stop them all on exit.

    ``live=True`` also starts the trainers' live view (``ndxp-sim serve-live``), on a free
    port, fed by the gateway. ``replicas`` > 1 starts that many gateway instances, behind
    the ``nginx`` binary when given (on the gateway's port; the instances on the next ones).
    """
    full_env = stack_env(state_dir, env)
    if replicas > 1 and "NDXP_GATEWAY__PORT" not in (env or {}):
        full_env["NDXP_GATEWAY__PORT"] = str(free_port_run(replicas + 1))
    if live:
        from liveview.process import live_env, live_service

        full_env.setdefault("NDXP_LIVE__HOST", "127.0.0.1")
        full_env.setdefault("NDXP_LIVE__PORT", str(free_ports(1)[0]))
        full_env = live_env(settings_from_env(full_env), full_env)
    settings = settings_from_env(full_env)
    services = supervisor.plan(
        settings, gateway=gateway, env=full_env, replicas=replicas, nginx=nginx, hops=hops
    )
    if live:
        services.append(live_service(settings, full_env))
    if gateway:
        supervisor.reset_metrics_dir(settings)
    supervisor.start_all(services, timeout_s)
    try:
        yield Stack(settings, full_env, services)
    finally:
        supervisor.stop(services)


def registry_env(
    directory: Path, timeouts: Timeouts, providers: Iterable[str] | None = None
) -> dict[str, str]:
    """Env for a stack whose registry is the default one with ``timeouts`` on ``providers``
    (all when None): written to ``directory/registry.yaml``."""
    from gateway.registry import default_registry, render_registry

    registry = default_registry()
    chosen = None if providers is None else set(providers)
    changed = [
        p.model_copy(update={"timeouts": timeouts}) if chosen is None or p.name in chosen else p
        for p in registry.providers
    ]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "registry.yaml"
    path.write_text(
        render_registry(registry.model_copy(update={"providers": changed})), encoding="utf-8"
    )
    return {"NDXP_GATEWAY__REGISTRY_PATH": str(path)}
