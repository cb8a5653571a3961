"""Shared fixtures: settings with a private state directory, in-process clients for apps and
the lifecycle mocks' movable clock."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from ndxp_config.settings import MockSettings, Settings
from tests.lifecycle_mocks import FakeClock


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings factory: defaults (not the environment's NDXP_ values) under a tmp state dir."""

    def make(seed: int = 2024, **overrides: object) -> Settings:
        mocks = MockSettings(seed=seed)
        return Settings(mocks=mocks, state_dir=tmp_path / "state", **overrides)  # type: ignore[arg-type]

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def client_for() -> Callable[[FastAPI], httpx.AsyncClient]:
    """An httpx client talking to an app in-process (ASGITransport), closed by the test."""

    def make(app: FastAPI) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test")

    return make


@pytest.fixture
def clock() -> FakeClock:
    """A clock the test moves, at :data:`tests.lifecycle_mocks.T0`."""
    return FakeClock()


@pytest.fixture
async def client(
    app: FastAPI, client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client of the test module's ``app`` fixture."""
    async with client_for(app) as c:
        yield c


@pytest.fixture
async def population_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    from mock_services.population import create_app

    transport = httpx.ASGITransport(app=create_app(settings))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client
