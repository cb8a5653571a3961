"""Schemathesis against the real servers: the five mock national databases and the gateway
(the consumer API through a province's token, with the contract of its connection kit, and the
admin API), each on a real socket in a real stack.

The settings are ``schemathesis.toml``: every check with its default expectations, every
phase (examples, coverage, fuzzing, stateful through the contracts' links), deterministic and
bounded. ``st run`` runs as a subprocess, from the repository root with the stack's
environment, as a developer runs it (``make contracts-test``); its exit status is the verdict
and its report says which operations it tested, so a run that tests nothing cannot pass.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from ndxp_sim.testing import Stack, running_stack

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "schemathesis.toml"
ST = Path(sys.executable).with_name("st")
RUN_TIMEOUT_S = 900.0  # only bounds a hang; a loaded machine just takes longer
MOCKS = ("population", "civil-registry", "business-registry", "driver-licence", "judicial-records")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "options", "head", "trace"}
KIT_PROVINCE = "Điện Biên"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    # A token outlives the run (the default 5 minutes may not on a loaded machine).
    env = {"NDXP_GATEWAY__TOKEN_TTL_S": "3600"}
    with running_stack(tmp_path_factory.mktemp("schemathesis") / "state", env) as stack:
        yield stack


def _operations(document: dict[str, object]) -> int:
    paths = document["paths"]
    assert isinstance(paths, dict)
    return sum(1 for item in paths.values() for method in item if method in HTTP_METHODS)


def _run(stack: Stack, location: str, *args: str, config: Path = CONFIG) -> tuple[int, str]:
    completed = subprocess.run(
        [str(ST), "--config-file", str(config), "--no-color", "run", location, *args],
        cwd=ROOT,
        env={**stack.env, "COLUMNS": "120"},
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
    )
    return completed.returncode, completed.stdout + completed.stderr


def _schemathesis(stack: Stack, location: str, *args: str, config: Path = CONFIG) -> str:
    """Run ``st run``; assert it passed (0 failures); return its report."""
    returncode, report = _run(stack, location, *args, config=config)
    failures = report[report.find("= FAILURES =") :] if "= FAILURES =" in report else report
    assert returncode == 0, failures[-12000:]
    return report


def _assert_tested(report: str, operations: int, stateful: bool = True) -> None:
    tested = re.search(r"Tested: (\d+)", report)
    assert tested is not None, report[-4000:]
    assert int(tested.group(1)) == operations, report[-4000:]
    generated = re.search(r"(\d+) generated", report)
    assert generated is not None, report[-4000:]
    assert int(generated.group(1)) > 0, report[-4000:]
    if stateful:
        links = re.search(r"API Links:\s+(\d+) covered", report)
        assert links is not None, report[-4000:]
        assert int(links.group(1)) > 0, report[-4000:]


@pytest.mark.parametrize("name", MOCKS)
def test_a_mock_serves_exactly_its_contract(stack: Stack, name: str) -> None:
    url = stack.mock_url(name)
    document = httpx.get(f"{url}/openapi.json", timeout=30).json()
    report = _schemathesis(stack, f"{url}/openapi.json")
    # Every mock has links (declared, or inferred from an answer's ids), so stateful runs.
    _assert_tested(report, _operations(document))


def _kit(stack: Stack, out: Path) -> dict[str, str]:
    made = subprocess.run(
        [sys.executable, "-m", "ndxp_sim", "kit", KIT_PROVINCE, "--out", str(out)],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    credentials = {}
    for line in (out / "credentials.env").read_text(encoding="utf-8").splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            credentials[key.strip()] = value.strip().strip("'\"")
    return credentials


def _explicit_links_only(document: dict[str, Any], out: Path) -> Path:
    """``schemathesis.toml`` with a ``[[project]]`` for the kit's contract (matched by its
    title) that infers no links from names: the kit declares every link it has (``LINKS`` in
    :mod:`gateway.kit_openapi`), and across five databases the same name is not the same
    thing (a business-registry ``file_id`` is no driver-licence ``/files/{file_id}``)."""
    title = json.dumps(document["info"]["title"], ensure_ascii=False)
    out.write_text(
        CONFIG.read_text(encoding="utf-8")
        + f"\n[[project]]\ntitle = {title}\n\n[project.phases.stateful.inference]\n"
        + 'algorithms = ["location-headers"]\n',
        encoding="utf-8",
    )
    return out


def test_the_gateway_serves_a_province_exactly_its_kit_contract(
    stack: Stack, tmp_path: Path
) -> None:
    credentials = _kit(stack, tmp_path / "kit")
    token = httpx.post(
        credentials["NDXP_TOKEN_URL"],
        data={
            "grant_type": "client_credentials",
            "client_id": credentials["NDXP_CLIENT_ID"],
            "client_secret": credentials["NDXP_CLIENT_SECRET"],
        },
        timeout=30,
    )
    assert token.status_code == 200, token.text
    contract = tmp_path / "kit" / "openapi.yaml"
    document = yaml.safe_load(contract.read_text(encoding="utf-8"))
    report = _schemathesis(
        stack,
        str(contract),
        "--url",
        stack.gateway_url,
        "--header",
        f"Authorization: Bearer {token.json()['access_token']}",
        config=_explicit_links_only(document, tmp_path / "schemathesis.toml"),
    )
    _assert_tested(report, _operations(document))


def test_the_gateway_admin_api_serves_exactly_its_contract(stack: Stack) -> None:
    # After the consumer run (same module, in file order): the admin run changes the clock,
    # scenarios and consumers, which would disturb a province's calls.
    document = httpx.get(f"{stack.gateway_url}/openapi.json", timeout=30).json()
    report = _schemathesis(
        stack,
        f"{stack.gateway_url}/openapi.json",
        "--header",
        f"Authorization: Bearer {stack.admin_token}",
    )
    _assert_tested(report, _operations(document))
