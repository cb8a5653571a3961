"""The receiving end of the gateway's live feed (:mod:`gateway.record_feed`).

The live view binds a Unix datagram socket and reads it from its event loop: each datagram is
one finished :class:`~contracts.exchange.ExchangeRecord` in JSON. Reading drains everything
queued at each wake-up, so a burst costs one wake-up, not one per record. A datagram that is
not a record is counted and ignored (:attr:`FeedReceiver.malformed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import tempfile
from collections.abc import Callable
from pathlib import Path

from pydantic import ValidationError

from contracts.exchange import ExchangeRecord
from gateway.record_feed import MAX_DATAGRAM_BYTES
from ndxp_config.settings import Settings

# sun_path holds 108 bytes on Linux, 104 on macOS; keep a margin.
_MAX_SOCKET_PATH = 100
_RECEIVE_BUFFER = 4 * 1024 * 1024


def feed_address(settings: Settings) -> str:
    """Where the feed's socket is: ``NDXP_LIVE__FEED``, else ``<state_dir>/live-feed.sock``
    (or, when that path is too long for a socket, one under the temp dir named by the port)."""
    if settings.live.feed:
        return settings.live.feed
    path = str(settings.state_dir.resolve() / "live-feed.sock")
    if len(path.encode()) <= _MAX_SOCKET_PATH:
        return path
    return str(Path(tempfile.gettempdir()) / f"ndxp-live-{settings.live.port}.sock")


class FeedReceiver:
    """Binds the feed's socket and hands each record to ``on_record``."""

    def __init__(self, address: str, on_record: Callable[[ExchangeRecord, bytes], None]) -> None:
        self.address = address
        self.on_record = on_record
        self.received = 0
        self.malformed = 0
        self._sock: socket.socket | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> None:
        """Bind (replacing a stale socket file) and start reading on the running loop."""
        Path(self.address).parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)  # a previous live view's; a bound one would refuse us
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        with contextlib.suppress(OSError):  # a bigger buffer absorbs bursts; best effort
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RECEIVE_BUFFER)
        sock.bind(self.address)
        sock.setblocking(False)
        self._sock = sock
        self._loop = asyncio.get_running_loop()
        self._loop.add_reader(sock.fileno(), self._drain)

    def _drain(self) -> None:
        assert self._sock is not None
        while True:
            try:
                data = self._sock.recv(MAX_DATAGRAM_BYTES)
            except (BlockingIOError, InterruptedError):
                return
            try:
                record = ExchangeRecord.model_validate_json(data)
            except ValidationError:
                self.malformed += 1
                continue
            self.received += 1
            self.on_record(record, data)

    def close(self) -> None:
        if self._sock is None:
            return
        if self._loop is not None:
            self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        self._sock = None
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.address)


__all__ = ["FeedReceiver", "feed_address"]
