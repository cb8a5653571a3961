"""Name → factory of every mock national database app (what ``ndxp-sim up`` serves)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module

from fastapi import FastAPI

from ndxp_config.settings import MOCK_NAMES, Settings

AppFactory = Callable[[Settings], FastAPI]


def _factory(module: str) -> AppFactory:
    def create(settings: Settings) -> FastAPI:
        app: FastAPI = import_module(f"mock_services.{module}").create_app(settings)
        return app

    return create


MOCK_FACTORIES: dict[str, AppFactory] = {
    name: _factory(name.replace("-", "_")) for name in MOCK_NAMES
}


def create_mock_app(name: str, settings: Settings) -> FastAPI:
    """The app of the named mock (``population``, ``business-registry``, ...)."""
    try:
        factory = MOCK_FACTORIES[name]
    except KeyError:
        raise ValueError(f"unknown mock {name!r}; choose one of {', '.join(MOCK_NAMES)}") from None
    return factory(settings)
