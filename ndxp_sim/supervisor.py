"""Process supervision for ``ndxp-sim up``: every box of the design is its own OS process.

Each service is started as ``python -m ndxp_sim serve ...`` with the caller's environment (so
``NDXP_*`` settings reach every process), then polled on ``/healthz`` until it answers.

- **Claim first.** :func:`claim` refuses a second stack before anything is printed, started or
  deleted: the state directory is locked (``up.lock``, an ``flock`` the kernel releases when
  the holder dies, however it dies) and every planned port must be free to bind; the refusal
  names the port and the process that holds it.
- **No orphans.** Children run in their own session (a Ctrl-C reaches only the supervisor,
  which stops them in order) and, on Linux, with ``PR_SET_PDEATHSIG``: if the supervisor dies —
  SIGKILL, a closed terminal — the kernel sends each child SIGTERM.
- **Stop from the top down.** Services have a tier: mocks 0, gateway 1, the routes' hops
  (LGSP, VDXP) 2, anything else (traffic, Prometheus) 3. :func:`stop` sends SIGTERM one tier
  at a time, highest first, and waits for it to exit before the next: the gateway finishes
  its in-flight exchanges and flushes its exchange log while the national databases still
  answer. What outlives the grace period is SIGKILLed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import errno
import fcntl
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psutil

from ndxp_config.settings import MOCK_NAMES, Settings

MOCK_TIER = 0
GATEWAY_TIER = 1
HOP_TIER = 2  # the routes' hops (LGSP, VDXP): in front of the gateway, behind the clients
CLIENT_TIER = 3
LOCK_FILE = "up.lock"


class StartupError(RuntimeError):
    """A service did not become healthy; the message says which and shows its last output."""


class Busy(StartupError):
    """Another stack holds the state directory or a port; nothing was started or changed."""


@dataclass
class Service:
    name: str
    url: str
    argv: list[str]
    env: dict[str, str]
    log_path: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    health_path: str = "/healthz"  # answers 200 once the service serves (Prometheus: /-/ready)
    tier: int = CLIENT_TIER  # stop goes from the highest tier down (see the module docstring)

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                preexec_fn=_die_with(os.getpid()),  # only a prctl: takes no lock after fork
            )

    def tail(self, lines: int = 20) -> str:
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def _die_with(parent: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` asking Linux to SIGTERM the child when its parent dies (None elsewhere).

    The kernel sends the signal when the *thread* that forked exits: start services from the
    main thread, or from a thread that outlives them.
    """
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True).prctl  # loaded pre-fork
    pr_set_pdeathsig = 1

    def preexec() -> None:
        prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the prctl: no signal will come
            os._exit(1)

    return preexec


def plan(
    settings: Settings,
    *,
    gateway: bool = True,
    env: Mapping[str, str] | None = None,
    replicas: int = 1,
    nginx: str | None = None,
    hops: bool = True,
) -> list[Service]:
    """The services ``up`` starts, in start order: the mocks, the gateway, the routes' hops.

    Children inherit ``env`` (default: this process's environment): that is how ``NDXP_*``
    settings reach them. ``replicas`` > 1 plans that many gateway instances, behind the
    ``nginx`` binary when given (:mod:`ndxp_sim.balancer`).
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
            tier=MOCK_TIER,
        )
        for name in MOCK_NAMES
    ]
    if gateway and replicas > 1:
        from ndxp_sim.balancer import gateway_instances

        services += gateway_instances(settings, replicas, env, nginx=nginx)
    elif gateway:
        metrics_dir = state_dir / "prometheus"
        services.append(
            Service(
                "gateway",
                settings.gateway.url,
                [*python, "serve-gateway"],
                {**env, "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)},
                state_dir / "logs" / "gateway.log",
                tier=GATEWAY_TIER,
            )
        )
    if gateway and hops:
        services += [
            Service(
                name,
                f"http://{own.host}:{own.port}",
                [*python, "serve-hop", name],
                env,
                state_dir / "logs" / f"{name}.log",
                tier=HOP_TIER,
            )
            for name, own in (("lgsp", settings.lgsp), ("vdxp", settings.vdxp))
        ]
    return services


@contextlib.contextmanager
def claim(settings: Settings, services: Iterable[Service]) -> Iterator[None]:
    """Hold the state directory and check every service's port is free, or raise :class:`Busy`.

    Changes nothing a running stack uses: the only write is the lock file's pid, made once the
    lock is ours. The lock lasts until the block exits (or this process dies).
    """
    state_dir = settings.state_dir.resolve()
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise Busy(
                f"another `ndxp-sim up` (pid {holder}) runs on the state directory {state_dir}; "
                "stop it first, or give this one its own NDXP_STATE_DIR and ports"
            ) from None
        check_ports(services)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # releases the lock


def check_ports(services: Iterable[Service]) -> None:
    """Raise :class:`Busy` naming every port that cannot be bound, and who listens there."""
    problems: list[str] = []
    seen: dict[tuple[str, int], str] = {}
    for service in services:
        address = urlsplit(service.url)
        host, port = address.hostname or "127.0.0.1", address.port or 80
        if (host, port) in seen:
            problems.append(f"{service.name} and {seen[host, port]} are both given port {port}")
            continue
        seen[host, port] = service.name
        reason = _bind_error(host, port)
        if reason is not None:
            problems.append(f"{service.name}'s port {host}:{port} {reason}")
    if problems:
        raise Busy(
            "; ".join(problems) + ". Stop what holds it, or choose other ports "
            "(NDXP_GATEWAY__PORT, NDXP_MOCKS__PORTS, NDXP_LGSP__PORT, NDXP_VDXP__PORT)"
        )


def _bind_error(host: str, port: int) -> str | None:
    """Why a server could not listen on ``host:port`` now (None: it could)."""
    family, kind, proto, _, address = socket.getaddrinfo(
        host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            sock.bind(address)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                return f"cannot be bound ({exc.strerror})"
            return f"is in use{_holder(port)}"
    return None


def _holder(port: int) -> str:
    """`` by <command> (pid N)`` for the process listening on ``port``, when it can be known."""
    try:
        for conn in psutil.net_connections(kind="inet"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr and conn.laddr.port == port:
                if conn.pid is None:
                    return " (by a process this user cannot see)"
                command = " ".join(psutil.Process(conn.pid).cmdline()) or "?"
                if len(command) > 120:
                    command = command[:117] + "..."
                return f" by `{command}` (pid {conn.pid})"
    except psutil.Error:
        pass  # not permitted here (e.g. macOS without root): the port alone must do
    return ""


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
    """Stop one tier at a time, highest first: SIGTERM, wait ``grace_s``, SIGKILL the rest."""
    for tier in sorted({s.tier for s in services}, reverse=True):
        _stop_together([s for s in services if s.tier == tier], grace_s)


def _stop_together(services: list[Service], grace_s: float) -> None:
    running = [s.process for s in services if s.process is not None and s.process.poll() is None]
    for process in running:
        process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for process in running:
        try:
            process.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def watch(services: list[Service], interval_s: float = 0.5) -> list[str]:
    """Block until a service exits on its own (its names returned) or KeyboardInterrupt."""
    while True:
        dead = [s.name for s in services if s.process is None or s.process.poll() is not None]
        if dead:
            return dead
        time.sleep(interval_s)


def start_all(services: list[Service], timeout_s: float = 30.0) -> None:
    """Start every service and wait until all are healthy; on failure, stop them all."""
    try:
        for service in services:
            service.start()
        wait_healthy(services, timeout_s)
    except BaseException:
        stop(services)
        raise
