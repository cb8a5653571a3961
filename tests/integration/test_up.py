"""``ndxp-sim up`` brings the whole stack up as separate processes, its printed curl sequence
works, and Ctrl-C stops everything cleanly."""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from ndxp_config.settings import MOCK_NAMES

pytestmark = pytest.mark.integration


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


Up = tuple[subprocess.Popen[str], dict[str, str], list[str]]


def _start_up(tmp_path: Path, *args: str) -> Up:
    """``ndxp-sim up`` on free ports; returns once it has printed its welcome (or exited)."""
    gateway_port, *mock_ports = _free_ports(5)
    env = {
        **os.environ,
        "NDXP_STATE_DIR": str(tmp_path / "state"),
        "NDXP_GATEWAY__PORT": str(gateway_port),
        "NDXP_MOCKS__PORTS": json.dumps(dict(zip(MOCK_NAMES, mock_ports, strict=True))),
        "COLUMNS": "400",  # keep rich from wrapping the copy-paste lines
    }
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
    assert set(urls) == {*MOCK_NAMES, "gateway"}
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
