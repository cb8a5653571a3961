"""``ndxp-sim up`` brings the whole stack up as separate processes, its printed curl sequence
works, and Ctrl-C stops everything cleanly; a second ``up`` is refused before it prints or
changes anything; closing the terminal or killing ``up`` leaves no orphan; and on stop the
gateway finishes its in-flight exchanges while the national databases still answer."""

from __future__ import annotations

import fcntl
import json
import os
import re
import select
import signal
import socket
import subprocess
import sys
import termios
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psutil
import pytest

from ndxp_config.settings import MOCK_NAMES
from ndxp_sim.testing import free_ports

pytestmark = pytest.mark.integration

DEADLINE_S = 60.0  # only bounds a hang: every wait below ends as soon as its condition holds

Up = tuple[subprocess.Popen[str], dict[str, str], list[str]]


def _up_env(tmp_path: Path) -> dict[str, str]:
    gateway_port, live_port, lgsp_port, vdxp_port, *mock_ports = free_ports(4 + len(MOCK_NAMES))
    return {
        **os.environ,
        "NDXP_STATE_DIR": str(tmp_path / "state"),
        "NDXP_GATEWAY__PORT": str(gateway_port),
        "NDXP_LIVE__PORT": str(live_port),
        "NDXP_LGSP__PORT": str(lgsp_port),
        "NDXP_VDXP__PORT": str(vdxp_port),
        "NDXP_MOCKS__PORTS": json.dumps(dict(zip(MOCK_NAMES, mock_ports, strict=True))),
        "COLUMNS": "400",  # keep rich from wrapping the copy-paste lines
    }


def _start_up(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Up:
    """``ndxp-sim up`` on free ports; returns once it has printed its welcome (or exited)."""
    env = env or _up_env(tmp_path)
    process = subprocess.Popen(
        [sys.executable, "-m", "ndxp_sim", "up", "--timeout", "60", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lines: list[str] = []
    assert process.stdout is not None
    for line in process.stdout:  # blocks until `up` prints; it exits on failure
        lines.append(line)
        if "Ctrl-C stops everything" in line:
            break
    return process, env, lines


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Up]:
    process, env, lines = _start_up(tmp_path)
    try:
        yield process, env, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait()
        assert process.stdout is not None
        process.stdout.close()


def test_up_scenario_starts_the_stack_under_that_scenario(tmp_path: Path) -> None:
    process, env, lines = _start_up(tmp_path, "--scenario", "fm-03")
    try:
        assert "Scenario fm-03 (run " in "".join(lines), "".join(lines)
        gateway = f"http://127.0.0.1:{env['NDXP_GATEWAY__PORT']}"
        status = httpx.get(
            f"{gateway}/admin/scenario", headers={"Authorization": "Bearer ndxp-dev-admin"}
        ).json()
        assert status["run"]["scenario"] == "fm-03"
        assert {p["scenario"] for p in status["providers"].values()} == {"fm-03"}
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_up_starts_the_live_view_fed_by_the_gateway(stack: Up) -> None:
    _, env, lines = stack
    live = f"http://127.0.0.1:{env['NDXP_LIVE__PORT']}"
    assert f"Trainers' live view: {live}" in "".join(lines), "".join(lines)
    gateway = f"http://127.0.0.1:{env['NDXP_GATEWAY__PORT']}"
    refused = httpx.get(f"{gateway}/population/v1/citizens/1")  # no token: still an exchange
    deadline = time.monotonic() + DEADLINE_S
    snapshot = httpx.get(f"{live}/api/snapshot").json()
    while snapshot["total"] < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        snapshot = httpx.get(f"{live}/api/snapshot").json()
    assert refused.status_code == 401
    assert snapshot["outcomes"] == {"unauthenticated": 1}


def test_up_with_an_unknown_scenario_fails_and_stops_everything(tmp_path: Path) -> None:
    process, _env, lines = _start_up(tmp_path, "--scenario", "no-such-scenario")
    rest, _ = process.communicate(timeout=60)
    output = "".join(lines) + rest
    assert process.returncode == 1, output
    assert "no such scenario" in output


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_up_serves_every_service_and_the_printed_curl_sequence_works(
    stack: Up, stop_signal: signal.Signals
) -> None:
    process, _env, lines = stack
    output = "".join(lines)
    assert "ndxp-sim is up" in output, output
    urls = dict(re.findall(r"^\s+(\S+)\s+(http://127\.0\.0\.1:\d+)", output, re.MULTILINE))
    assert set(urls) == {*MOCK_NAMES, "gateway", "lgsp", "vdxp", "live-view"}
    for url in urls.values():
        assert httpx.get(f"{url}/healthz").status_code == 200

    # Run the printed copy-paste sequence exactly as a person would, in a shell.
    token_line = next(line for line in lines if line.startswith("TOKEN="))
    curl_line = next(line for line in lines if line.startswith("curl ") and "Bearer" in line)
    result = subprocess.run(
        ["bash", "-c", token_line + curl_line],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    citizen = json.loads(result.stdout)
    assert len(citizen["personal_id"]) == 12
    assert citizen["full_name"]

    process.send_signal(stop_signal)
    rest, _ = process.communicate(timeout=30)
    assert process.returncode == 0, rest
    assert "All services stopped" in rest
    for url in urls.values():
        with pytest.raises(httpx.TransportError):
            httpx.get(f"{url}/healthz", timeout=1)


def wait_until(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"still not {what} after {DEADLINE_S:.0f} s"
        time.sleep(0.05)


def _ports(env: dict[str, str]) -> dict[str, int]:
    return {"gateway": int(env["NDXP_GATEWAY__PORT"]), **json.loads(env["NDXP_MOCKS__PORTS"])}


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            return True
    except OSError:
        return False


def _gone(process: psutil.Process) -> bool:
    """Exited (a zombie nobody reaped yet counts: it runs no code and holds no port)."""
    try:
        return process.status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def _assert_nothing_left(children: list[psutil.Process], env: dict[str, str]) -> None:
    wait_until(lambda: all(_gone(child) for child in children), "every service exited")
    assert not [name for name, port in _ports(env).items() if _listening(port)]


def _token(env: dict[str, str], lines: list[str]) -> str:
    client_id, secret = re.findall(r"client_id=(\S+) client_secret=(\S+)", "".join(lines))[0]
    response = httpx.post(
        f"http://127.0.0.1:{env['NDXP_GATEWAY__PORT']}/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    response.raise_for_status()
    token: str = response.json()["access_token"]
    return token


def _sample_citizen(lines: list[str]) -> str:
    return re.findall(r"/population/v1/citizens/(\d{12})", "".join(lines))[0]


def test_a_second_up_is_refused_before_printing_anything_and_the_first_keeps_its_metrics(
    stack: Up, tmp_path: Path
) -> None:
    process, env, lines = stack
    gateway = f"http://127.0.0.1:{env['NDXP_GATEWAY__PORT']}"
    headers = {"Authorization": f"Bearer {_token(env, lines)}"}
    citizen = f"{gateway}/population/v1/citizens/{_sample_citizen(lines)}"
    assert httpx.get(citizen, headers=headers).status_code == 200

    up = [sys.executable, "-m", "ndxp_sim", "up", "--timeout", "60"]
    same_state = subprocess.run(
        up, env=env, capture_output=True, text=True, timeout=DEADLINE_S, check=False
    )
    other_state = subprocess.run(
        up,
        env={**env, "NDXP_STATE_DIR": str(tmp_path / "other-state")},
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=False,
    )

    for refused in (same_state, other_state):
        output = " ".join((refused.stdout + refused.stderr).split())  # undo rich's wrapping
        assert refused.returncode == 1, output
        assert output.startswith("ndxp-sim up refused:"), output
        assert "is up" not in output
    assert f"another `ndxp-sim up` (pid {process.pid})" in same_state.stdout
    gateway_port = env["NDXP_GATEWAY__PORT"]
    other = " ".join(other_state.stdout.split())
    assert re.search(rf"gateway's port 127\.0\.0\.1:{gateway_port} is in use by `[^`]*", other)
    assert "serve-gateway` (pid " in other
    assert not (tmp_path / "other-state" / "prometheus").exists()  # nothing was started there

    # The first stack still serves, and its metrics directory was left alone.
    assert httpx.get(citizen, headers=headers).status_code == 200
    metrics = httpx.get(f"{gateway}/metrics").text
    assert "ndxp_exchanges_total{" in metrics
    assert list((Path(env["NDXP_STATE_DIR"]) / "prometheus").iterdir())


def test_killing_up_leaves_no_orphan(stack: Up) -> None:
    process, env, _lines = stack
    children = psutil.Process(process.pid).children(recursive=True)
    assert len(children) >= 1 + len(MOCK_NAMES)

    process.kill()  # SIGKILL: `up` gets no chance to stop anyone
    process.wait()

    _assert_nothing_left(children, env)


def _read_until(fd: int, marker: str) -> str:
    """What the terminal shows, up to ``marker`` (or until the program closes it)."""
    output = b""
    deadline = time.monotonic() + DEADLINE_S
    while marker.encode() not in output:
        assert time.monotonic() < deadline, output.decode(errors="replace")
        if select.select([fd], [], [], 1.0)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the program closed its side
                break
            if not chunk:
                break
            output += chunk
    return output.decode(errors="replace")


def _controlling_terminal() -> None:
    """In the child, after setsid: make stdin (the pty) the controlling terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def test_closing_the_terminal_stops_every_service(tmp_path: Path) -> None:
    env = _up_env(tmp_path)
    terminal, pty = os.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "ndxp_sim", "up", "--timeout", "60"],
        env=env,
        stdin=pty,
        stdout=pty,
        stderr=pty,
        start_new_session=True,  # a session of its own, with the pty as its terminal
        preexec_fn=_controlling_terminal,
    )
    os.close(pty)
    children: list[psutil.Process] = []
    try:
        shown = _read_until(terminal, "Ctrl-C stops everything")
        assert "ndxp-sim is up" in shown, shown
        children = psutil.Process(process.pid).children(recursive=True)
        assert len(children) >= 1 + len(MOCK_NAMES)

        os.close(terminal)  # the terminal window closes: the kernel sends SIGHUP
        terminal = -1
        process.wait(timeout=DEADLINE_S)

        assert process.returncode >= 0, f"`up` died of signal {-process.returncode}"
        _assert_nothing_left(children, env)
    finally:
        if terminal != -1:
            os.close(terminal)
        process.kill()
        process.wait()
        for leftover in children:
            if not _gone(leftover):
                leftover.kill()


def test_on_stop_the_gateway_finishes_its_exchange_while_the_databases_still_answer(
    stack: Up,
) -> None:
    process, env, lines = stack
    gateway_port = int(env["NDXP_GATEWAY__PORT"])
    body = json.dumps(
        {
            "personal_id": _sample_citizen(lines),
            "full_name": "Nguyễn Văn An",
            "date_of_birth": "1990-01-01",
        }
    ).encode()
    head = (
        "POST /population/v1/citizens/verify HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{gateway_port}\r\n"
        f"Authorization: Bearer {_token(env, lines)}\r\n"
        "Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", gateway_port), timeout=DEADLINE_S) as exchange:
        exchange.sendall(head)
        interim = b""
        while b"\r\n\r\n" not in interim:
            interim += exchange.recv(4096)
        # 100 Continue: the gateway has admitted the call and waits for its body — in flight.
        assert interim.startswith(b"HTTP/1.1 100 "), interim

        process.send_signal(signal.SIGTERM)
        wait_until(lambda: not _listening(gateway_port), "the gateway draining")
        for name in MOCK_NAMES:  # the national databases outlive the gateway's drain
            assert _listening(_ports(env)[name]), f"{name} stopped before the gateway drained"

        exchange.sendall(body)
        answer = b""
        while chunk := exchange.recv(65536):  # the draining gateway closes after answering
            answer += chunk

    assert answer.startswith(b"HTTP/1.1 200 "), answer
    assert "match" in json.loads(answer.partition(b"\r\n\r\n")[2])
    rest, _ = process.communicate(timeout=DEADLINE_S)
    assert process.returncode == 0, rest
    assert "All services stopped" in rest
    assert not [name for name, port in _ports(env).items() if _listening(port)]
