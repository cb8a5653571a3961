"""The trainers' live view (``ndxp-sim serve-live``): the platform's exchanges, live, in a browser.

A small app of its own, in its own process: the gateway sends each finished exchange record to
it over a Unix datagram socket (:mod:`gateway.record_feed`, never blocking the gateway), and
it fans them out to the open pages as server-sent events. The page draws the 63 provinces'
one-stop systems → NDXP gateway → national databases with each exchange as it happens, and
holds the scenario control and a hop-by-hop flow runner. Everything it serves ships in
``liveview/static/``: it works without internet.
"""

from liveview.app import create_app
from liveview.feed import FeedReceiver, feed_address
from liveview.hub import Hub
from liveview.stats import LiveStats

__all__ = ["FeedReceiver", "Hub", "LiveStats", "create_app", "feed_address"]
