"""The live view's server-sent events: bounded per browser, a slow one loses events and is told."""

from __future__ import annotations

import asyncio
import json

from liveview.hub import Event, Hub


def test_publish_never_waits_and_a_full_queue_counts_its_drops() -> None:
    hub = Hub(queue_size=3)
    slow = hub.subscribe()
    for n in range(10):
        hub.publish("exchange", str(n))  # a plain call: it cannot await a reader
    assert slow.queue.qsize() == 3
    assert (slow.dropped, slow.dropped_total) == (7, 7)


async def test_the_next_event_after_a_loss_is_a_dropped_report_then_the_event() -> None:
    hub = Hub(queue_size=2)
    slow = hub.subscribe()
    for n in range(5):
        hub.publish("exchange", str(n))
    first = await slow.next()
    assert first.name == "dropped"
    assert json.loads(first.data) == {"dropped": 3, "total": 3}
    assert [(await slow.next()).data for _ in range(2)] == ["0", "1"]
    hub.publish("exchange", "5")
    assert (await slow.next()).data == "5"  # no new loss, no new report


async def test_a_slow_browser_does_not_cost_a_fast_one_anything() -> None:
    hub = Hub(queue_size=4)
    slow, fast = hub.subscribe(), hub.subscribe()
    received = []
    for n in range(20):
        hub.publish("exchange", str(n))
        received.append((await fast.next()).data)
    assert received == [str(n) for n in range(20)]
    assert fast.dropped_total == 0
    assert slow.dropped_total == 16


async def test_the_stream_is_text_event_stream_and_unsubscribes_when_the_client_goes() -> None:
    hub = Hub()
    subscription = hub.subscribe()
    stream = hub.stream(subscription, keepalive_s=0.05)
    assert await anext(stream) == b"retry: 2000\n\n"
    assert await anext(stream) == b": keep-alive\n\n"  # nothing to send: a comment line
    hub.publish("exchange", '{"a":1}')
    assert await anext(stream) == b'event: exchange\ndata: {"a":1}\n\n'
    assert subscription in hub.subscribers
    await stream.aclose()  # what Starlette does when the browser goes away
    assert subscription not in hub.subscribers


async def test_a_keepalive_timeout_loses_no_event() -> None:
    hub = Hub()
    subscription = hub.subscribe()
    waiting = asyncio.ensure_future(subscription.next())
    await asyncio.sleep(0)
    waiting.cancel()  # what the keep-alive's wait_for does
    hub.publish("exchange", "kept")
    assert await subscription.next() == Event("exchange", "kept")
