"""What a running gateway holds: the parts built at start-up and the resources of its lifespan.

:class:`Parts` are built by ``create_app`` (so a bad registry stops the start before any
socket opens); :class:`Runtime` adds what the lifespan opens and closes — the quota store,
the exchange log, the run store and one HTTP client per provider — and is what handlers
reach, through :func:`get_runtime` (``RuntimeDep``).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Annotated

import httpx
from fastapi import Depends, Request

from gateway.auth import Authenticator
from gateway.contract_check import ContractChecker
from gateway.exchange_log import ExchangeLog
from gateway.metrics import GatewayMetrics
from gateway.quotas import QuotaStore
from gateway.registry import Registry
from gateway.routing import Router
from gateway.runs import RunStore
from ndxp_config.settings import Settings


@dataclass(frozen=True, slots=True)
class Parts:
    """Built once per app, before the lifespan starts."""

    settings: Settings
    registry: Registry
    router: Router
    auth: Authenticator
    metrics: GatewayMetrics
    contracts: ContractChecker


@dataclass(slots=True)
class Runtime:
    """Everything a handler needs while the app runs."""

    parts: Parts
    quotas: QuotaStore
    log: ExchangeLog
    clients: dict[str, httpx.AsyncClient]
    timeouts: dict[str, httpx.Timeout]  # per service
    runs: RunStore
    rng: random.Random = field(default_factory=random.Random)

    @property
    def settings(self) -> Settings:
        return self.parts.settings

    @property
    def registry(self) -> Registry:
        return self.parts.registry

    @property
    def router(self) -> Router:
        return self.parts.router

    @property
    def auth(self) -> Authenticator:
        return self.parts.auth

    @property
    def metrics(self) -> GatewayMetrics:
        return self.parts.metrics

    @property
    def contracts(self) -> ContractChecker:
        return self.parts.contracts


def get_runtime(request: Request) -> Runtime:
    """The running gateway (set by the lifespan)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
