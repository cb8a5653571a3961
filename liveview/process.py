"""The live view as a process of the stack: what ``ndxp-sim up`` and the test stack start.

:func:`live_env` puts the feed's address in the environment every child inherits, so the
gateway (which publishes to it) and the live view (which binds it) agree;
:func:`live_service` is the supervised ``ndxp-sim serve-live`` process.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING

from liveview.feed import feed_address
from ndxp_config.settings import Settings

if TYPE_CHECKING:
    from ndxp_sim.supervisor import Service

SERVICE_NAME = "live-view"
FEED_ENV = "NDXP_LIVE__FEED"


def live_env(settings: Settings, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """``env`` (default: this process's) with ``NDXP_LIVE__FEED`` set to the feed's address."""
    env = dict(os.environ if env is None else env)
    env.setdefault(FEED_ENV, feed_address(settings))
    return env


def live_service(settings: Settings, env: Mapping[str, str]) -> Service:
    """The ``ndxp-sim serve-live`` process, logging to ``logs/live-view.log``."""
    from ndxp_sim.supervisor import Service

    state_dir = settings.state_dir.resolve()
    return Service(
        SERVICE_NAME,
        settings.live.url,
        [sys.executable, "-m", "ndxp_sim", "serve-live"],
        {**env, "NDXP_STATE_DIR": str(state_dir)},
        state_dir / "logs" / f"{SERVICE_NAME}.log",
    )


def serve(settings: Settings) -> None:
    """Run the live view in the foreground (``ndxp-sim serve-live``)."""
    import uvicorn

    from liveview.app import create_app

    uvicorn.run(
        create_app(settings), host=settings.live.host, port=settings.live.port, log_level="warning"
    )


__all__ = ["FEED_ENV", "SERVICE_NAME", "live_env", "live_service", "serve"]
