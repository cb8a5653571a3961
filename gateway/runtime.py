"""What a running gateway holds, in one object: :class:`Runtime`.

``create_app`` builds the parts that need no I/O — settings, registry, router, authenticator,
metrics, contract checker — so a bad registry stops the start before any socket opens; the
lifespan then opens the rest (quota store, exchange log, run store, the upstream clients) and
builds the one ``Runtime`` handlers reach through :func:`get_runtime` (``RuntimeDep``).

``observers`` is the seam where finished exchanges go: every
:class:`~contracts.exchange.ExchangeRecord` is handed to each of them, in order, once (see
:func:`gateway.exchange.notify`). The lifespan puts the exchange log, the metrics and the log
line there; a feature that wants to watch exchanges appends one more.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated

import httpx
from fastapi import Depends, Request

from gateway.auth import Authenticator
from gateway.contract_check import ContractChecker
from gateway.exchange import Observer
from gateway.exchange_log import ExchangeLog
from gateway.metrics import GatewayMetrics
from gateway.quotas import QuotaStore
from gateway.registry import Registry
from gateway.routing import Router
from gateway.runs import RunStore
from gateway.scenario_gate import ScenarioGate
from gateway.upstream import Upstream
from ndxp_config.settings import Settings


@dataclass(slots=True)
class Runtime:
    """Everything a handler needs while the app runs."""

    settings: Settings
    registry: Registry
    router: Router
    auth: Authenticator
    metrics: GatewayMetrics
    contracts: ContractChecker
    quotas: QuotaStore
    log: ExchangeLog
    clients: dict[str, httpx.AsyncClient]
    timeouts: dict[str, httpx.Timeout]  # per service
    runs: RunStore
    upstream: Upstream  # the only way a province's call reaches a provider
    observers: list[Observer] = field(default_factory=list)
    rng: random.Random = field(default_factory=random.Random)
    gate: ScenarioGate = field(default_factory=ScenarioGate)  # the scenario's gateway rules
    # What time it is for quotas (the local day, the reset); tests inject a clock to cross
    # local midnight without waiting for it.
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


def get_runtime(request: Request) -> Runtime:
    """The running gateway (set by the lifespan)."""
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
