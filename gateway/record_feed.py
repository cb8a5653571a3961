"""The live feed: each finished :class:`ExchangeRecord`, sent as one JSON datagram, fire and forget.

The trainers' live view (``ndxp-sim serve-live``) binds a Unix datagram socket
(``NDXP_LIVE__FEED``); every gateway worker sends each finished record to it with a
non-blocking ``sendto``. The exchange never waits for the page: when nobody listens (no socket
file, or a stale one), when the reader's queue is full (``EAGAIN``; Linux queues
``net.unix.max_dgram_qlen`` datagrams, 10 by default, then refuses) or when a record is too
big for one datagram, the record is dropped and counted — in :attr:`RecordFeed.dropped` and in
``ndxp_live_feed_dropped_total``. The exchange log, not this feed, is the record of what
happened; the feed only shows it as it happens.

A Unix datagram socket rather than UDP: the sender learns of every drop (UDP drops silently
in the receiver's kernel buffer), and the socket is a file under the state directory, so no
port is taken.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

from contracts.exchange import ExchangeRecord

# A datagram larger than this is not sent (Linux's default send buffer is 208 KiB; a record
# is about 1 KiB, its detail bounded by the gateway).
MAX_DATAGRAM_BYTES = 64 * 1024


class RecordFeed:
    """A callable observer of finished records that never blocks the exchange.

    Args:
        address: the path of the live view's Unix datagram socket.
        on_drop: called once per dropped record (the gateway counts it in a metric).
    """

    def __init__(self, address: str, on_drop: Callable[[], None] | None = None) -> None:
        self.address = address
        self.on_drop = on_drop
        self.sent = 0
        self.dropped = 0
        self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._sock.setblocking(False)

    def __call__(self, record: ExchangeRecord) -> None:
        """Send ``record``; on any refusal, count it and return at once."""
        data = record.model_dump_json().encode()
        if len(data) > MAX_DATAGRAM_BYTES:
            self._drop()
            return
        try:
            self._sock.sendto(data, self.address)
        except OSError:
            # EAGAIN (reader's queue full), ENOENT (no live view), ECONNREFUSED (a stale
            # socket file), EMSGSIZE: the page misses this one, the exchange goes on.
            self._drop()
        else:
            self.sent += 1

    def _drop(self) -> None:
        self.dropped += 1
        if self.on_drop is not None:
            self.on_drop()

    def close(self) -> None:
        self._sock.close()


__all__ = ["MAX_DATAGRAM_BYTES", "RecordFeed"]
