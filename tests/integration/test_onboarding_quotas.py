"""A consumer onboarded at runtime through the CLI, on a real stack, is a consumer like the
registry's: its quota in ``GET /admin/quotas`` (limits and today's usage) and in ``/metrics``."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from ndxp_sim.testing import Stack, running_stack

pytestmark = pytest.mark.integration

NEW_ID = "lgsp-quang-binh"


def _cli(stack: Stack, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "ndxp_sim", *args],
        env={**stack.env, "COLUMNS": "400"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_a_consumer_onboarded_at_runtime_has_its_quota_in_the_admin_api_and_metrics(
    tmp_path: Path,
) -> None:
    with running_stack(tmp_path / "state") as stack:
        _cli(
            stack,
            "consumers",
            "register",
            NEW_ID,
            "--name",
            "LGSP tỉnh Quảng Bình",
            "--province",
            "044",
            "--subscribe",
            "population.*",
        )
        approved = _cli(stack, "consumers", "approve", NEW_ID)
        secret = re.search(r"client_secret=(\S+)", approved)
        assert secret is not None, approved
        with httpx.Client(base_url=stack.gateway_url, timeout=30) as client:
            token = client.post(
                "/oauth2/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": NEW_ID,
                    "client_secret": secret.group(1),
                },
            )
            assert token.status_code == 200, token.text
            bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
            call = client.get("/population/v1/citizens/044057000001", headers=bearer)
            assert call.status_code in (200, 404), call.text  # admitted: counted either way
            quotas = client.get("/admin/quotas", headers=stack.admin_headers)
            metrics = client.get("/metrics").text
    assert quotas.status_code == 200, quotas.text
    mine = {i["policy"]: i for i in quotas.json()["items"] if i["consumer"] == NEW_ID}
    # the registry's defaults, as every seeded consumer has them
    assert (mine["daily"]["limit"], mine["daily"]["used"]) == (200_000, 1)
    lookups = mine["daily-population.get_citizen"]
    assert (lookups["limit"], lookups["used"]) == (50_000, 1)
    assert f'ndxp_quota_used{{consumer="{NEW_ID}",policy="daily"}} 1.0' in metrics
    assert f'ndxp_quota_limit{{consumer="{NEW_ID}",policy="daily"}}' in metrics
    assert f'ndxp_exchanges_total{{consumer="{NEW_ID}",' in metrics
