"""Running the gateway as a server: the uvicorn factory and the log set-up of a gateway process.

``uvicorn --factory gateway.server:app_factory`` (what ``ndxp-sim serve-gateway`` runs)
builds the app from ``NDXP_*`` settings in each worker process, so ``--workers 2`` gives two
processes that share quotas and the exchange log through their stores under
``NDXP_STATE_DIR``.
"""

from __future__ import annotations

import logging
import sys

import structlog
from fastapi import FastAPI

from gateway.app import create_app
from ndxp_config.settings import get_settings


def configure_logging(*, json: bool | None = None) -> None:
    """One JSON object per line on stdout (a console renderer on a terminal)."""
    if json is None:
        json = not sys.stdout.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.WriteLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=True,
    )


def app_factory() -> FastAPI:
    """The uvicorn factory: settings from the environment, JSON logs."""
    configure_logging()
    return create_app(get_settings())
