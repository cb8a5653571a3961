"""The gateway benchmarks run end to end in their quick modes (structure only, never speed).

``benchmarks/gateway_overhead.py --quick --profile`` and ``benchmarks/national_day.py
--quick`` start real stacks (nginx, the mocks, the gateway as production starts it, wrk);
these tests hold the printed tables to their structure, every gateway feature seen on, and
the national day's records == answers and quota exactness. No figure is asserted.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
FEATURES = ("auth", "rights", "quota", "contract check", "exchange log", "metrics", "log line")
DEADLINE_S = 900  # only against a hang: a loaded machine is slow, never wrong


def run(script: str, *args: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NDXP_")}
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=DEADLINE_S,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_gateway_overhead_quick_prints_every_column_ratio_and_profile() -> None:
    out = run("gateway_overhead.py", "--quick", "--rate", "50", "--profile")
    assert f"tree under test: {ROOT}" in out
    features = re.search(r"^gateway features: (.*)$", out, re.M)
    assert features is not None, out
    for feature in FEATURES:
        assert f"{feature} on" in features.group(1), features.group(1)
    header = re.search(
        r"^proxy \(median of rounds\)\s+req/s\s+p50 ms\s+p99 ms\s+CPU/req µs", out, re.M
    )
    assert header is not None, out
    rows = ["direct (no proxy)", "Python ceiling", "gateway, 1 worker(s), all features"]
    if shutil.which("nginx") or Path("/usr/sbin/nginx").exists():
        rows.append("nginx proxy_pass keep-alive")
        assert re.search(r"^gateway/nginx: req/s x[\d.]+, CPU per request x[\d.]+$", out, re.M)
    else:
        assert "nginx not found" in out
    number = r"\s+[\d.]+"
    for row in rows:
        line = re.search(rf"^{re.escape(row)}.*?({number}){{5}}$", out, re.M)
        assert line is not None, f"no row {row!r} with five figures:\n{out}"
    assert re.search(r"^gateway/ceiling: req/s x[\d.]+, CPU per request x[\d.]+$", out, re.M)
    assert re.search(r"^added latency at 50 req/s .*: p50 -?[\d.]+ ms, p99 -?[\d.]+ ms$", out, re.M)
    profile = out[out.index("py-spy: the gateway worker's CPU by component") :]
    shares = re.findall(r"^(.+?)\s+(\d+)\s+([\d.]+)%$", profile, re.M)
    assert shares, profile
    assert abs(sum(float(s) for _, _, s in shares) - 100) < 1, shares


@pytest.mark.skipif(
    shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)"
)
def test_national_day_quick_logs_every_answer_and_holds_quotas_exactly() -> None:
    out = run("national_day.py", "--quick")
    sent = re.search(
        r"^exchanges sent: ([\d,]+) \(planned ([\d,]+)\); answers: ([\d,]+)", out, re.M
    )
    assert sent is not None, out
    assert sent.group(1) == sent.group(2) == sent.group(3), sent.group(0)
    by_status = re.search(r"^answers by status: (.*)$", out, re.M)
    assert by_status is not None, out
    counts = [int(n.replace(",", "")) for n in re.findall(r"\d{3} ([\d,]+)", by_status.group(1))]
    assert sum(counts) == int(sent.group(3).replace(",", "")), by_status.group(0)
    records = re.search(
        r"^records logged: ([\d,]+); answers: ([\d,]+); records == answers: (\w+)$", out, re.M
    )
    assert records is not None, out
    assert records.group(1) == records.group(2), records.group(0)
    assert records.group(3) == "OK"
    tight = re.search(
        r"^onestop-bac-kan\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)\s+exact$", out, re.M
    )
    assert tight is not None, out
    sent_, logged, admitted, refused, limit = map(int, tight.groups())
    assert refused > 0  # the quota was set below what it sends
    assert admitted == min(sent_, limit)
    assert logged == admitted + refused
    assert "quota exactness: OK" in out
