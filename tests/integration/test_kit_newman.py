"""The connection kit proven by a real client: newman runs the kit's Postman collection,
unmodified, against a running stack, and every request and every assertion passes.

Needs newman (``npm install -g newman``; ``.ci/run`` installs it when missing): without it
the test fails, loudly, rather than skip — the kit is only as good as this run.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from contracts.catalogue import OPERATIONS
from ndxp_sim.testing import running_stack

pytestmark = pytest.mark.integration

NEWMAN_TIMEOUT_S = 300.0  # only bounds a hang


def _newman() -> str:
    found = shutil.which("newman")
    if found is None:
        pytest.fail("newman is not installed: `npm install -g newman` (.ci/run installs it)")
    return found


def _run_newman(kit: Path, report: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [
            _newman(),
            "run",
            str(kit / "postman" / "collection.json"),
            "-e",
            str(kit / "postman" / "environment.json"),
            "--reporters",
            "cli,json",
            "--reporter-json-export",
            str(report),
            "--color",
            "off",
        ],
        capture_output=True,
        text=True,
        timeout=NEWMAN_TIMEOUT_S,
        check=False,
    )
    assert report.exists(), completed.stdout + completed.stderr
    run: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))["run"]
    run["cli"] = completed.stdout[-8000:] + completed.stderr[-2000:]
    run["returncode"] = completed.returncode
    return run


def test_newman_passes_every_request_of_a_freshly_generated_kit(tmp_path: Path) -> None:
    _newman()
    with running_stack(tmp_path / "state") as stack:
        kit = tmp_path / "kit"
        made = subprocess.run(
            [sys.executable, "-m", "ndxp_sim", "kit", "Điện Biên", "--out", str(kit)],
            env=stack.env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert made.returncode == 0, made.stdout + made.stderr
        environment = json.loads((kit / "postman" / "environment.json").read_text())
        assert {"key": "baseUrl", "value": stack.gateway_url} == {
            k: v for k, v in environment["values"][0].items() if k in ("key", "value")
        }
        first = _run_newman(kit, tmp_path / "first.json")
        # A second run of the same kit: the token is cached per run, submissions are
        # idempotent on their dossier codes, so a developer can re-run it at will.
        second = _run_newman(kit, tmp_path / "second.json")
    for run in (first, second):
        stats = run["stats"]
        assert run["returncode"] == 0, run["cli"]
        assert stats["requests"]["total"] == len(OPERATIONS) + 1, run["cli"]
        assert stats["requests"]["failed"] == 0, run["cli"]
        assert stats["assertions"]["failed"] == 0, run["cli"]
        assert stats["assertions"]["total"] >= 4 * len(OPERATIONS), run["cli"]
        assert not run["failures"], run["cli"]
