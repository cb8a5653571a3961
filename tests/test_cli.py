"""The ``ndxp-sim`` command line: every command has help; samples and the contract check."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from mock_services.people import is_citizen
from ndxp_sim.cli import app

runner = CliRunner()


@pytest.mark.parametrize("command", ["up", "serve-mock", "serve-gateway", "openapi", "samples"])
def test_every_command_has_help(command: str) -> None:
    result = runner.invoke(app, [command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_samples_lists_existing_citizens_of_a_province_named_without_diacritics() -> None:
    result = runner.invoke(app, ["samples", "--province", "thanh-hoa", "--count", "3"])
    assert result.exit_code == 0
    ids = [line.split()[0] for line in result.output.splitlines() if line.strip()]
    assert len(ids) == 3
    assert all(pid.startswith("038") and is_citizen(pid) for pid in ids)


def test_samples_rejects_an_unknown_province() -> None:
    result = runner.invoke(app, ["samples", "--province", "Atlantis"])
    assert result.exit_code == 2
    assert "no province" in result.output


def test_openapi_check_passes_on_the_committed_contracts() -> None:
    result = runner.invoke(app, ["openapi"])
    assert result.exit_code == 0, result.output
