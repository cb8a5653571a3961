"""Server-sent events to every open page: one bounded queue per browser, never waited on.

:meth:`Hub.publish` puts an event on each subscriber's queue without awaiting; a browser that
reads too slowly (a projector laptop asleep, a closed tab not yet noticed) fills its own queue
and loses the events that do not fit — nobody else waits for it, least of all the feed. The
next event it does get is preceded by a ``dropped`` event saying how many it lost, so the page
can say so instead of silently showing less. Wire format: the W3C ``text/event-stream``
(HTML Living Standard §9.2): ``event:`` and ``data:`` lines, a blank line between events,
``:`` comment lines as keep-alives.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

QUEUE_SIZE = 1000  # events a browser may fall behind by before it loses some
KEEPALIVE_S = 15.0  # a comment line this often lets a proxy or the server notice a dead peer


@dataclass(frozen=True, slots=True)
class Event:
    """One server-sent event: a name and its data (one line of JSON)."""

    name: str
    data: str

    def encode(self) -> bytes:
        return f"event: {self.name}\ndata: {self.data}\n\n".encode()


class Subscription:
    """One browser's queue and what it has lost so far."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue(queue_size)
        self.dropped = 0  # since the last ``dropped`` event was sent to it
        self.dropped_total = 0
        self._pending: Event | None = None

    def offer(self, event: Event) -> bool:
        """Queue ``event`` if there is room; never waits."""
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.dropped += 1
            self.dropped_total += 1
            return False
        return True

    async def next(self) -> Event:
        """The next event to send; a ``dropped`` report first if some were lost.

        Safe to cancel (a keep-alive timeout does): no event is taken until it is returned.
        """
        if self._pending is not None:
            event, self._pending = self._pending, None
            return event
        event = await self.queue.get()
        if self.dropped:
            report = {"dropped": self.dropped, "total": self.dropped_total}
            self.dropped = 0
            self._pending = event  # the event just taken follows the report
            return Event("dropped", json.dumps(report))
        return event


class Hub:
    """Fans events out to every subscriber."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self.subscribers: set[Subscription] = set()
        self.published = 0

    def subscribe(self) -> Subscription:
        subscription = Subscription(self.queue_size)
        self.subscribers.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscribers.discard(subscription)

    def publish(self, name: str, data: str) -> None:
        """Offer one event to every subscriber; returns at once."""
        self.published += 1
        event = Event(name, data)
        for subscription in self.subscribers:
            subscription.offer(event)

    async def stream(
        self, subscription: Subscription, keepalive_s: float = KEEPALIVE_S
    ) -> AsyncIterator[bytes]:
        """The bytes of an ``text/event-stream`` response; unsubscribes when the client goes."""
        try:
            yield b"retry: 2000\n\n"  # reconnect after 2 s if the connection drops
            while True:
                try:
                    event = await asyncio.wait_for(subscription.next(), keepalive_s)
                except TimeoutError:
                    yield b": keep-alive\n\n"
                    continue
                yield event.encode()
        finally:
            self.unsubscribe(subscription)


__all__ = ["KEEPALIVE_S", "QUEUE_SIZE", "Event", "Hub", "Subscription"]
