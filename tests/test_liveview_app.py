"""The live view app: feed in, events out; figures per database; a narrow admin pass-through."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from gateway.record_feed import RecordFeed
from gateway.testing import serve_in_thread
from liveview import create_app
from liveview.admin_proxy import allowed
from liveview.stats import LiveStats, colour_of, failure_modes_of
from liveview.testing import sample_record
from ndxp_config.settings import LiveSettings, Settings

DEADLINE_S = 30.0  # bounds a hang only


@pytest.fixture
def live(tmp_path: Path) -> Iterator[tuple[str, RecordFeed]]:
    """A live view on a real socket, and a feed publisher pointed at it."""
    feed_path = Path("/tmp") / f"ndxp-live-test-{tmp_path.name[-20:]}.sock"
    settings = Settings(state_dir=tmp_path / "state", live=LiveSettings(feed=str(feed_path)))
    feed = RecordFeed(str(feed_path))
    with serve_in_thread(create_app(settings)) as url:
        yield url, feed
    feed.close()


def wait_for(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_a_published_record_reaches_an_open_event_stream(live: tuple[str, RecordFeed]) -> None:
    url, feed = live
    record = sample_record(7, consumer="onestop-quang-binh", outcome="upstream_timeout")
    with (
        httpx.Client(timeout=DEADLINE_S) as client,
        client.stream("GET", f"{url}/api/events") as events,
    ):
        assert events.headers["content-type"].startswith("text/event-stream")
        wait_for(lambda: client.get(f"{url}/healthz").json()["browsers"] == 1)
        feed(record)
        lines = events.iter_lines()
        for line in lines:
            if line == "event: exchange":
                data = json.loads(next(lines).removeprefix("data: "))
                break
    assert data["exchange_id"] == record.exchange_id
    assert (data["province"], data["colour"]) == ("044", "failed")
    assert data["failure_modes"] == ["FM-01"]
    assert feed.dropped == 0


def test_the_snapshot_keeps_each_province_s_and_database_s_last_exchanges(
    live: tuple[str, RecordFeed],
) -> None:
    url, feed = live
    for n in range(3):
        feed(sample_record(n))
    wait_for(lambda: httpx.get(f"{url}/api/snapshot").json()["total"] == 3)
    snapshot = httpx.get(f"{url}/api/snapshot").json()
    assert [r["exchange_id"] for r in snapshot["recent"]["province"]["038"]] == [
        f"{n:032x}" for n in range(3)
    ]
    assert snapshot["databases"]["population"]["exchanges"] == 3
    assert snapshot["feed"] == {"received": 3, "malformed": 0, "browsers": 0}


def test_the_page_and_its_assets_are_served_from_the_package(
    live: tuple[str, RecordFeed],
) -> None:
    url, _ = live
    page = httpx.get(url)
    assert page.status_code == 200
    assert "/static/live.js" in page.text
    assert "http" not in page.text.replace('href="data:,"', "")  # no CDN, nothing remote
    for asset in ("live.js", "live.css"):
        assert httpx.get(f"{url}/static/{asset}").status_code == 200
    topology = httpx.get(f"{url}/api/topology").json()
    assert len(topology["provinces"]) == 63
    assert [d["name"] for d in topology["databases"]] == [
        "population",
        "business-registry",
        "driver-licence",
        "civil-registry",
        "judicial-records",
    ]


def test_admin_calls_need_the_typed_token_and_only_the_page_s_paths_pass(
    live: tuple[str, RecordFeed],
) -> None:
    url, _ = live
    assert httpx.get(f"{url}/api/admin/quotas").json()["code"] == "unauthenticated"
    refused = httpx.get(f"{url}/api/admin/exchanges/export", headers={"Authorization": "Bearer x"})
    assert refused.status_code == 404
    assert all(allowed(m, p) for m, p in [("GET", "quotas"), ("PUT", "scenario"), ("PUT", "clock")])
    assert not allowed("PUT", "quotas/onestop-thanh-hoa")
    assert not allowed("GET", "../metrics")


@pytest.mark.parametrize(
    ("fields", "colour", "modes"),
    [
        pytest.param({}, "ok", set(), id="clean"),
        pytest.param(
            {"injected_fault": "empty_list:quang-binh-empty-lists"},
            "degraded",
            {"FM-03"},
            id="injected-by-a-rule",
        ),
        pytest.param(
            {"contract_violations": ["items[0].name"]}, "degraded", {"FM-04"}, id="violation"
        ),
        pytest.param(
            {"outcome": "upstream_reset", "status_code": 502}, "failed", {"FM-02"}, id="reset"
        ),
        pytest.param(
            {"outcome": "upstream_rejected", "status_code": 404}, "rejected", set(), id="404"
        ),
        pytest.param(
            {"outcome": "quota_exceeded", "status_code": 429}, "refused", set(), id="quota"
        ),
    ],
)
def test_each_exchange_gets_a_colour_and_its_failure_modes(
    fields: dict[str, object], colour: str, modes: set[str]
) -> None:
    record = sample_record(1, **fields)
    assert colour_of(record) == colour
    assert failure_modes_of(record, {"quang-binh-empty-lists": "FM-03"}) == modes


def test_database_figures_cover_the_last_minute_only() -> None:
    now = [1000.0]
    stats = LiveStats({"onestop-thanh-hoa": "038"}, clock=lambda: now[0])
    for n, duration in enumerate([10.0, 20.0, 30.0, 40.0]):
        stats.add(sample_record(n, duration_ms=duration))
    stats.add(sample_record(9, outcome="upstream_timeout", duration_ms=35_000.0))
    figures = stats.databases()["population"]
    assert (figures["exchanges"], figures["failures"]) == (5, 1)
    assert (figures["p50_ms"], figures["p95_ms"]) == (30.0, 35_000.0)
    assert figures["health"] == "degraded"
    now[0] += 61
    assert stats.databases()["population"]["exchanges"] == 0
    assert stats.databases()["population"]["health"] == "idle"
