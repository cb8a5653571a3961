"""Running the gateway as a server: the uvicorn factory and the log set-up of a gateway process.

``uvicorn --factory gateway.server:app_factory`` (what ``ndxp-sim serve-gateway`` runs)
builds the app from ``NDXP_*`` settings in each worker process, so ``--workers 2`` gives two
processes that share quotas and the exchange log through their stores under
``NDXP_STATE_DIR``. :func:`uvicorn_options` are the server settings every gateway process
uses: the HTTP protocol is :class:`gateway.protocol.EdgeProtocol` (httptools with the head
caps and the head and body deadlines uvicorn lacks), and no WebSocket support.
"""

from __future__ import annotations

import asyncio
import gc
import json as jsonlib
import logging
import sys
from typing import Any, TextIO

import structlog
from fastapi import FastAPI

from gateway.app import create_app
from gateway.protocol import EdgeLimits, edge_protocol
from ndxp_config.settings import get_settings

GC_THRESHOLD = 20_000


def _fallback(value: object) -> object:
    # structlog's own fallback: an object's __structlog__() if it has one, else its repr.
    to_log = getattr(value, "__structlog__", None)
    return to_log() if callable(to_log) else repr(value)


# One encoder for every line: json.dumps with a ``default`` builds a new one per call.
_ENCODER = jsonlib.JSONEncoder(default=_fallback)


def _encode(event: object, **_: Any) -> str:
    return _ENCODER.encode(event)


def configure_logging(*, json: bool | None = None) -> None:
    """One JSON object per line on stdout (a console renderer on a terminal)."""
    if json is None:
        json = not sys.stdout.isatty()
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(_encode) if json else structlog.dev.ConsoleRenderer()
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
        logger_factory=structlog.WriteLoggerFactory(file=TurnFlushed(sys.stdout)),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )


class TurnFlushed:
    """A text stream whose ``flush`` on the event loop waits for the end of the loop's turn.

    structlog's ``WriteLogger`` flushes after every line: one ``write`` system call per
    exchange. On the loop, the lines of one turn are flushed together by a callback at its
    end (a few lines per system call under load, as soon as the turn ends); off the loop (a
    worker thread, start-up), ``flush`` flushes at once.
    """

    def __init__(self, file: TextIO) -> None:
        self._file = file
        self.write = file.write
        self._scheduled = False

    def flush(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self._file.flush()
            return
        if not self._scheduled:
            self._scheduled = True
            loop.call_soon(self._flush_now)

    def _flush_now(self) -> None:
        self._scheduled = False
        self._file.flush()


def app_factory() -> FastAPI:
    """The uvicorn factory: settings from the environment, JSON logs."""
    configure_logging()
    app = create_app(get_settings())
    app.freeze_gc = True
    # An exchange allocates a few hundred container objects, which at the default threshold
    # (700) ran a young collection every other exchange.
    gc.set_threshold(GC_THRESHOLD, 20, 20)
    return app


def uvicorn_options(limits: EdgeLimits | None = None) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` / ``uvicorn.Config`` of a gateway process.

    Without ``limits`` the protocol reads them from the ``NDXP_GATEWAY__*`` settings in
    each worker (an import string, so that ``--workers`` can spawn it).
    """
    return {
        "http": "gateway.protocol:EdgeProtocol" if limits is None else edge_protocol(limits),
        "ws": "none",  # no WebSockets: an Upgrade is an ordinary request
        "timeout_keep_alive": 5,  # idle time between requests (the head deadline follows)
        "log_level": "warning",
    }
