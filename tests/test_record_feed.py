"""The gateway's live feed: one JSON datagram per finished record; never blocks, drops counted."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from contracts.exchange import ExchangeRecord
from gateway.record_feed import MAX_DATAGRAM_BYTES, RecordFeed
from gateway.testing import gateway_settings, running_gateway, small_registry
from liveview.testing import sample_record
from ndxp_config.settings import LiveSettings, Settings


@pytest.fixture
def address(tmp_path: Path) -> Iterator[str]:
    # sun_path is short (108 bytes): pytest's tmp paths can be longer.
    directory = Path("/tmp") / f"ndxp-feed-test-{tmp_path.name[-24:]}"
    directory.mkdir(exist_ok=True)
    path = directory / "feed.sock"
    path.unlink(missing_ok=True)
    yield str(path)
    path.unlink(missing_ok=True)
    directory.rmdir()


@pytest.fixture
def reader(address: str) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(address)
    sock.settimeout(30)  # bounds a hang only
    yield sock
    sock.close()


def test_each_record_arrives_whole_as_one_json_datagram(
    address: str, reader: socket.socket
) -> None:
    feed = RecordFeed(address)
    records = [sample_record(1), sample_record(2, outcome="upstream_timeout", status_code=504)]
    for record in records:
        feed(record)
    received = [
        ExchangeRecord.model_validate_json(reader.recv(MAX_DATAGRAM_BYTES)) for _ in records
    ]
    assert received == records
    assert (feed.sent, feed.dropped) == (2, 0)
    feed.close()


def test_without_a_live_view_the_record_is_dropped_and_counted(address: str) -> None:
    drops: list[int] = []
    feed = RecordFeed(address, on_drop=lambda: drops.append(1))
    feed(sample_record(1))
    feed(sample_record(2))
    assert (feed.sent, feed.dropped, len(drops)) == (0, 2, 2)
    feed.close()


def test_a_stale_socket_file_is_a_drop_not_an_error(address: str) -> None:
    gone = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    gone.bind(address)
    gone.close()  # the file stays, nobody reads it (a live view that was killed)
    feed = RecordFeed(address)
    feed(sample_record(1))
    assert (feed.sent, feed.dropped) == (0, 1)
    feed.close()


def test_a_reader_that_never_reads_costs_drops_never_a_blocked_sender(
    address: str, reader: socket.socket
) -> None:
    feed = RecordFeed(address)
    burst = 5000  # far more than a Unix datagram queue holds (max_dgram_qlen, send buffer)
    done = threading.Event()

    def send_all() -> None:
        for n in range(burst):
            feed(sample_record(n))
        done.set()

    sender = threading.Thread(target=send_all, daemon=True)
    sender.start()
    sender.join(timeout=60)  # bounds a hang only: a blocking sendto would never return
    assert done.is_set(), "the feed blocked on a full reader"
    assert feed.sent + feed.dropped == burst
    assert feed.dropped > 0
    assert feed.sent > 0
    # What was queued is intact, and the reader drains it after the burst.
    first = ExchangeRecord.model_validate_json(reader.recv(MAX_DATAGRAM_BYTES))
    assert first.exchange_id == f"{0:032x}"
    feed.close()


def test_a_record_too_big_for_one_datagram_is_dropped(address: str, reader: socket.socket) -> None:
    feed = RecordFeed(address)
    feed(sample_record(1, detail="x" * (MAX_DATAGRAM_BYTES + 1)))
    assert (feed.sent, feed.dropped) == (0, 1)
    feed.close()


def live_settings(tmp_path: Path, address: str) -> Settings:
    settings = gateway_settings(tmp_path / "state", small_registry())
    return settings.model_copy(update={"live": LiveSettings(feed=address)})


async def test_the_gateway_sends_each_finished_exchange_to_the_feed(
    tmp_path: Path, address: str, reader: socket.socket
) -> None:
    async with running_gateway(live_settings(tmp_path, address)) as (_, client):
        response = await client.get("/population/v1/citizens/038090001234")  # no token: 401
    record = ExchangeRecord.model_validate_json(reader.recv(MAX_DATAGRAM_BYTES))
    assert response.status_code == 401
    assert record.exchange_id == response.headers["X-NDXP-Exchange-Id"]
    assert record.outcome == "unauthenticated"


async def test_the_gateway_answers_and_counts_the_drop_when_no_live_view_listens(
    tmp_path: Path, address: str
) -> None:
    metrics = CollectorRegistry()
    settings = live_settings(tmp_path, address)
    async with running_gateway(settings, metrics=metrics) as (_, client):
        responses = [await client.get("/population/v1/citizens/1") for _ in range(3)]
    assert [r.status_code for r in responses] == [401, 401, 401]
    assert metrics.get_sample_value("ndxp_live_feed_dropped_total") == 3


async def test_without_a_feed_setting_the_gateway_sends_nothing(tmp_path: Path) -> None:
    metrics = CollectorRegistry()
    settings = gateway_settings(tmp_path / "state", small_registry())
    async with running_gateway(settings, metrics=metrics) as (app, client):
        await client.get("/population/v1/citizens/1")
        observers = app.state.runtime.observers
    assert not any(isinstance(o, RecordFeed) for o in observers)
    assert metrics.get_sample_value("ndxp_live_feed_dropped_total") == 0
