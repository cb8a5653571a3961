"""``up --traffic``: the provinces' background traffic (:mod:`connectors.traffic`) as one more
supervised process. It lives here, not in ``connectors``: the connectors never import the CLI
package that supervises them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from connectors.traffic import traffic_argv
from connectors.traffic_shape import TrafficShape
from ndxp_config.settings import Settings
from ndxp_sim.supervisor import Service


def traffic_service(
    settings: Settings,
    rate: float,
    *,
    seed: int | None = None,
    mix: str | None = None,
    env: Mapping[str, str] | None = None,
    shape: TrafficShape = "flat",
) -> Service:
    """A supervisor :class:`Service` running the traffic, logging to ``logs/traffic.log``.

    Start it after the stack is healthy (it has no ``/healthz``); ``supervisor.stop`` ends it
    with SIGTERM, upon which it drains its runs and prints its summary.
    """
    state_dir = settings.state_dir.resolve()
    return Service(
        "traffic",
        settings.gateway.url,
        traffic_argv(rate, seed=seed, mix=mix, shape=shape),
        {**(os.environ if env is None else env), "NDXP_STATE_DIR": str(state_dir)},
        Path(state_dir) / "logs" / "traffic.log",
    )
