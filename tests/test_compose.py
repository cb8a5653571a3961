"""docker-compose.yml, checked by reading it (no Docker engine runs here): every command is a
real entry point of the project, and ports and environment match the settings' defaults."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from ndxp_sim.cli import app
from ndxp_sim.settings import MOCK_NAMES, GatewaySettings, MockSettings, Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def test_every_command_is_a_real_cli_entry_point(compose: dict[str, Any]) -> None:
    commands = get_command(app).commands  # type: ignore[attr-defined]
    for name, service in compose["services"].items():
        command = service["command"]
        assert command[0] in commands, f"{name}: {command[0]} is not an ndxp-sim command"
        if command[0] == "serve-mock":
            assert command[1] == name
            assert name in MOCK_NAMES


def test_mock_ports_and_urls_match_the_settings_defaults(compose: dict[str, Any]) -> None:
    defaults = MockSettings()
    gateway_env = compose["services"]["gateway"]["environment"]
    urls = json.loads(gateway_env["NDXP_MOCKS__URLS"])
    for name in MOCK_NAMES:
        port = defaults.ports[name]
        assert compose["services"][name]["ports"] == [f"{port}:{port}"]
        assert urls[name] == f"http://{name}:{port}"
    settings = Settings(mocks=MockSettings(urls=urls))
    assert settings.mocks.url("population") == "http://population:8101"


def test_gateway_port_matches_the_settings_default(compose: dict[str, Any]) -> None:
    port = GatewaySettings().port
    gateway = compose["services"]["gateway"]
    assert gateway["ports"] == [f"{port}:{port}"]
    assert gateway["environment"]["NDXP_GATEWAY__PORT"] == str(port)


def test_gateway_waits_for_healthy_mocks_and_everyone_has_a_healthcheck(
    compose: dict[str, Any],
) -> None:
    depends = compose["services"]["gateway"]["depends_on"]
    assert {name: dep["condition"] for name, dep in depends.items()} == dict.fromkeys(
        MOCK_NAMES, "service_healthy"
    )
    for name, service in compose["services"].items():
        assert "/healthz" in " ".join(service["healthcheck"]["test"]), name


def test_environment_variables_are_settings_the_project_reads(compose: dict[str, Any]) -> None:
    for name, service in compose["services"].items():
        env = {k: v for k, v in service.get("environment", {}).items() if k.startswith("NDXP_")}
        section_fields = {
            "MOCKS": MockSettings.model_fields,
            "GATEWAY": GatewaySettings.model_fields,
        }
        for key in env:
            section, field = key.removeprefix("NDXP_").split("__")
            assert field.lower() in section_fields[section], f"{name}: {key} is not a setting"
