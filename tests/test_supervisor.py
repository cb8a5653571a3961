"""The supervisor on real processes and sockets: it claims the state directory and the ports
before touching anything, stops services from the top tier down, and leaves no orphans."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from ndxp_config.settings import (
    MOCK_NAMES,
    GatewaySettings,
    HopSettings,
    MockSettings,
    Settings,
    VdxpSettings,
)
from ndxp_sim import supervisor
from ndxp_sim.supervisor import Busy, Service
from ndxp_sim.testing import free_ports

DEADLINE_S = 60.0  # only bounds a hang: every wait below ends as soon as its condition holds


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"still not {what} after {DEADLINE_S:.0f} s"
        time.sleep(0.05)


def gone(pid: int) -> bool:
    """Exited (a zombie nobody reaped yet counts: it runs no code and holds no port)."""
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


@pytest.fixture
def stack_settings(tmp_path: Path) -> Settings:
    gateway_port, lgsp_port, vdxp_port, *mock_ports = free_ports(3 + len(MOCK_NAMES))
    return Settings(
        state_dir=tmp_path / "state",
        mocks=MockSettings(ports=dict(zip(MOCK_NAMES, mock_ports, strict=True))),
        gateway=GatewaySettings(port=gateway_port),
        lgsp=HopSettings(port=lgsp_port),
        vdxp=VdxpSettings(port=vdxp_port),
    )


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    try:
        yield sock
    finally:
        sock.close()


def test_a_busy_port_is_refused_naming_the_port_the_service_and_the_holder(
    stack_settings: Settings, listener: socket.socket
) -> None:
    port = listener.getsockname()[1]
    services = supervisor.plan(stack_settings)
    gateway = next(s for s in services if s.name == "gateway")
    gateway.url = f"http://127.0.0.1:{port}"

    with pytest.raises(Busy) as refused:
        supervisor.check_ports(services)

    message = str(refused.value)
    assert f"gateway's port 127.0.0.1:{port} is in use by `" in message
    assert f"(pid {os.getpid()})" in message
    assert "population" not in message  # the free ports are not blamed


def test_free_ports_pass_the_check(stack_settings: Settings) -> None:
    supervisor.check_ports(supervisor.plan(stack_settings))  # raises if any port were busy


def test_two_services_given_one_port_are_refused(stack_settings: Settings) -> None:
    services = supervisor.plan(stack_settings)
    services[1].url = services[0].url

    pattern = rf"{services[1].name} and {services[0].name} are both given port \d+"
    with pytest.raises(Busy, match=pattern):
        supervisor.check_ports(services)


def test_a_second_claim_on_the_state_directory_is_refused_and_writes_nothing(
    stack_settings: Settings,
) -> None:
    services = supervisor.plan(stack_settings)
    lock = stack_settings.state_dir / supervisor.LOCK_FILE
    with supervisor.claim(stack_settings, services):
        held = lock.read_text()
        with (
            pytest.raises(Busy, match=rf"another `ndxp-sim up` \(pid {os.getpid()}\) runs on"),
            supervisor.claim(stack_settings, services),
        ):
            pytest.fail("the second claim must not enter")
        assert lock.read_text() == held
    with supervisor.claim(stack_settings, services):  # released on exit: claimable again
        assert lock.read_text() == f"{os.getpid()}\n"


def test_the_claim_dies_with_its_holder(stack_settings: Settings) -> None:
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import sys, time\n"
            "from ndxp_config.settings import Settings\n"
            "from ndxp_sim import supervisor\n"
            f"settings = Settings(state_dir={str(stack_settings.state_dir)!r})\n"
            "with supervisor.claim(settings, []):\n"
            "    print('claimed', flush=True)\n"
            "    time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "claimed\n"
        with pytest.raises(Busy), supervisor.claim(stack_settings, []):
            pass
        holder.kill()  # SIGKILL: no chance to clean up
        holder.wait()
        with supervisor.claim(stack_settings, []):
            pass
    finally:
        holder.kill()
        holder.wait()
        holder.stdout.close()  # type: ignore[union-attr]


SIGNAL_RECORDER = """
import signal, sys, time
name, record = sys.argv[1], sys.argv[2]
def on_term(signum, frame):
    with open(record, "a") as f:
        f.write(name + "\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, on_term)
with open(record + "." + name, "w") as f:
    f.write("ready")
while True:
    time.sleep(1)
"""


def test_stop_goes_from_the_top_tier_down(tmp_path: Path) -> None:
    record = tmp_path / "stopped"
    tiers = {"traffic": 2, "gateway": 1, "population": 0, "civil_registry": 0}
    services = [
        Service(
            name,
            "http://127.0.0.1:1",
            [sys.executable, "-c", SIGNAL_RECORDER, name, str(record)],
            dict(os.environ),
            tmp_path / f"{name}.log",
            tier=tier,
        )
        for name, tier in sorted(tiers.items(), key=lambda item: item[1])  # start bottom-up
    ]
    for service in services:
        service.start()
    wait_until(lambda: all(Path(f"{record}.{n}").exists() for n in tiers), "all ready")

    supervisor.stop(services)

    stopped = record.read_text().split()
    assert stopped[:2] == ["traffic", "gateway"]
    assert sorted(stopped[2:]) == ["civil_registry", "population"]
    assert all(s.process is not None and s.process.returncode == 0 for s in services)


def test_children_get_sigterm_when_the_supervisor_is_killed(tmp_path: Path) -> None:
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import os, sys, time\n"
            "from pathlib import Path\n"
            "from ndxp_sim.supervisor import Service\n"
            "child = Service('sleeper', 'http://127.0.0.1:1',\n"
            "    [sys.executable, '-c', 'import time; time.sleep(600)'], dict(os.environ),\n"
            f"    Path({str(tmp_path / 'sleeper.log')!r}))\n"
            "child.start()\n"
            "print(child.process.pid, flush=True)\n"
            "time.sleep(600)\n",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert parent.stdout is not None
    child = int(parent.stdout.readline())
    try:
        assert not gone(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait()
        wait_until(lambda: gone(child), "the orphan gone")
    finally:
        parent.stdout.close()
        if not gone(child):
            os.kill(child, signal.SIGKILL)


def test_the_routes_hops_are_planned_between_the_gateway_and_the_clients(
    stack_settings: Settings,
) -> None:
    services = {s.name: s for s in supervisor.plan(stack_settings)}
    for name, own in (("lgsp", stack_settings.lgsp), ("vdxp", stack_settings.vdxp)):
        hop = services[name]
        assert hop.argv[-2:] == ["serve-hop", name]
        assert hop.url == f"http://127.0.0.1:{own.port}"
        assert services["gateway"].tier < hop.tier < supervisor.CLIENT_TIER
    assert "lgsp" not in {s.name for s in supervisor.plan(stack_settings, hops=False)}
    assert "lgsp" not in {s.name for s in supervisor.plan(stack_settings, gateway=False)}
