"""How many exchanges a second the live view draws one by one before it must aggregate.

A live view on a real socket, fed synthetic records through the gateway's own publisher
(:class:`gateway.record_feed.RecordFeed`) at a fixed rate, open in headless chromium at
1280x720 with every exchange drawn (``?draw=each``). For each rate it prints the frames per
second the page kept, the share of the page's main thread spent taking and drawing exchanges
(``busy %``: less sensitive to a loaded machine than frames), the records the page received
and those the feed dropped. The page's
aggregation threshold (``AGGREGATE_ABOVE`` in ``liveview/static/live.js``) is set below the
highest rate that keeps 30 frames a second.

    .venv/bin/python benchmarks/liveview_draw.py [--seconds 5] [--rates 10,25,...] [--draw each]
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from contracts.provinces import PROVINCES
from gateway.record_feed import RecordFeed
from gateway.testing import serve_in_thread
from liveview import create_app
from liveview.testing import sample_record
from ndxp_config.settings import LiveSettings, Settings

ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
OUTCOMES = ["ok"] * 8 + ["upstream_timeout", "upstream_rejected"]
PROVIDERS = ["population", "business-registry", "driver-licence", "civil-registry"]
PROBE = "[window.__live.frames, window.__live.received, window.__live.busyMs]"


def send(feed: RecordFeed, rate: float, seconds: float, start: int) -> int:
    """Send ``rate`` records a second for ``seconds``, paced on the monotonic clock."""
    count = int(rate * seconds)
    began = time.monotonic()
    for n in range(count):
        province = PROVINCES[n % len(PROVINCES)]
        record = sample_record(
            start + n,
            consumer=f"onestop-{province.slug}",
            provider=PROVIDERS[n % 4],
            service=f"{PROVIDERS[n % 4]}.op",
            outcome=OUTCOMES[n % len(OUTCOMES)],
        )
        feed(record)
        delay = began + (n + 1) / rate - time.monotonic()
        if delay > 0:
            time.sleep(delay)
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--rates", default="10,25,50,100,200,400,800")
    parser.add_argument("--draw", choices=["each", "aggregate"], default="each")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    with tempfile.TemporaryDirectory(prefix="ndxp-live-bench-") as tmp:
        feed_path = str(Path(tmp) / "feed.sock")
        settings = Settings(state_dir=Path(tmp) / "state", live=LiveSettings(feed=feed_path))
        feed = RecordFeed(feed_path)
        with serve_in_thread(create_app(settings)) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 720})
            page.goto(f"{url}/?draw={args.draw}")
            page.wait_for_selector("body[data-ready=true]")
            page.wait_for_function("document.querySelector('#conn').dataset.state === 'live'")
            print(
                f"{'rate/s':>7} {'fps':>6} {'busy %':>7} {'received':>9} {'sent':>6} {'drops':>6}"
            )
            sent_total = 0
            for rate in rates:
                frames0, received0, busy0 = page.evaluate(PROBE)
                dropped0 = feed.dropped
                began = time.monotonic()
                sender = threading.Thread(
                    target=lambda r=rate, s=sent_total: send(feed, r, args.seconds, s)
                )
                sender.start()
                sender.join()
                elapsed = time.monotonic() - began
                frames1, received1, busy1 = page.evaluate(PROBE)
                sent = int(rate * args.seconds)
                sent_total += sent
                fps = (frames1 - frames0) / elapsed
                busy = (busy1 - busy0) / (elapsed * 1000) * 100
                print(
                    f"{rate:>7.0f} {fps:>6.1f} {busy:>7.1f} {received1 - received0:>9} {sent:>6} "
                    f"{feed.dropped - dropped0:>6}",
                    flush=True,
                )
                time.sleep(1.5)  # let the last dots land before the next rate
            browser.close()
        feed.close()


if __name__ == "__main__":
    main()
