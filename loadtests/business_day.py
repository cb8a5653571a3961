"""The business day compressed; add it to a locustfile:
``-f loadtests/provinces.py,loadtests/business_day.py``.

The local window ``--ndxp-day-start``–``--ndxp-day-end`` (default 06:00–18:00, Asia/Ho_Chi_Minh)
plays in ``--ndxp-day-seconds`` of wall time, with the morning peak 07:30–11:00 and the
afternoon peak 13:30–16:30 (``loadtests/shapes.py``). ``--ndxp-scale 1.0`` is NDXP's national
volume, 2.8 million exchanges a day (REPORTS.md); users are added and removed so that
users × ``--ndxp-flow-rate`` × exchanges per flow follows the target rate. The run ends with
the window.
"""

from __future__ import annotations

import logging
from datetime import time
from typing import Any

from locust import LoadTestShape, events

from loadtests import common  # noqa: F401 - registers the shared --ndxp-* options
from loadtests.shapes import MEAN_EXCHANGES_PER_FLOW, CompressedDay

log = logging.getLogger("ndxp.business_day")


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_kw: Any) -> None:
    parser.add_argument("--ndxp-day-seconds", type=float, default=600.0, help="Wall seconds.")
    parser.add_argument("--ndxp-day-start", default="06:00", help="Local start, HH:MM.")
    parser.add_argument("--ndxp-day-end", default="18:00", help="Local end, HH:MM.")
    parser.add_argument(
        "--ndxp-scale", type=float, default=0.1, help="Share of NDXP's 2.8 M exchanges a day."
    )


class BusinessDayShape(LoadTestShape):
    """Users over the compressed day; spawn rate high enough to follow the steps."""

    day: CompressedDay | None = None
    last_users = 0

    def plan(self) -> CompressedDay:
        if self.day is None:
            assert self.runner is not None
            options = self.runner.environment.parsed_options
            self.day = CompressedDay(
                duration_s=options.ndxp_day_seconds,
                start=time.fromisoformat(options.ndxp_day_start),
                end=time.fromisoformat(options.ndxp_day_end),
                scale=options.ndxp_scale,
            )
        return self.day

    def tick(self) -> tuple[int, float] | None:
        day = self.plan()
        assert self.runner is not None
        per_user = self.runner.environment.parsed_options.ndxp_flow_rate * MEAN_EXCHANGES_PER_FLOW
        run_s = self.get_run_time()
        users = day.users(run_s, per_user)
        if users is None:
            return None
        if users != self.last_users:
            local = day.local_second(run_s)
            log.info(
                "local %02d:%02d — target %.1f exchanges/s, %d users",
                local // 3600,
                local % 3600 // 60,
                day.target_rate(run_s),
                users,
            )
            self.last_users = users
        return users, max(1.0, float(users))
