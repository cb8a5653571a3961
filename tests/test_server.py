"""The uvicorn factory builds the app from NDXP_ settings; logs are one JSON object a line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import structlog

from gateway.registry import render_registry
from gateway.server import app_factory, configure_logging
from gateway.testing import small_registry


@pytest.fixture(autouse=True)
def _restore_structlog() -> object:
    yield
    structlog.reset_defaults()


async def test_factory_reads_settings_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry = tmp_path / "r.yaml"
    registry.write_text(render_registry(small_registry()), encoding="utf-8")
    monkeypatch.setenv("NDXP_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("NDXP_GATEWAY__REGISTRY_PATH", str(registry))
    app = app_factory()
    assert app.title.startswith("NDXP gateway")
    async with app.router.lifespan_context(app):
        routes = app.state.runtime.router.routes
        assert {r.provider for r in routes} == {"population", "civil-registry"}


def test_logs_are_json_lines(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging(json=True)
    structlog.get_logger("t").info("exchange", consumer="onestop-thanh-hoa")
    line = json.loads(capsys.readouterr().out.strip())
    assert line["event"] == "exchange"
    assert line["consumer"] == "onestop-thanh-hoa"
    assert line["level"] == "info"
    assert "timestamp" in line
