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

from ndxp_sim.settings import MOCK_NAMES

pytestmark = pytest.mark.integration


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], dict[str, str], list[str]]]:
    gateway_port, *mock_ports = _free_ports(5)
    env = {
        **os.environ,
        "NDXP_STATE_DIR": str(tmp_path / "state"),
        "NDXP_GATEWAY__PORT": str(gateway_port),
        "NDXP_MOCKS__PORTS": json.dumps(dict(zip(MOCK_NAMES, mock_ports, strict=True))),
        "COLUMNS": "400",  # keep rich from wrapping the copy-paste lines
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "ndxp_sim", "up", "--timeout", "60"],
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
    try:
        yield process, env, lines
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_up_serves_every_service_and_the_printed_curl_sequence_works(
    stack: tuple[subprocess.Popen[str], dict[str, str], list[str]], stop_signal: signal.Signals
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
