"""A slow provider must cost its callers a timely 504, and nothing else.

Under a slow-provider scenario (``--ndxp-scenario fm-01``: business registration answers in
seconds, one call in twenty past 30 s, some listings hang), each user — a province's system —
keeps calling both the slow provider (business registration) and a healthy one (population).
The run fails (exit code 1) unless:

* every answer, 504 or not, came within the operation's ``total_s`` timeout (read from the
  gateway's ``/admin/registry``) plus ``--ndxp-timeout-margin`` seconds;
* every answer of the slow provider is a 2xx or a 504 ``upstream_timeout`` made by the gateway;
* every answer of the healthy provider is a 2xx: the slow one does not starve it;
* at least one 504 was seen — otherwise no slow scenario was on, and nothing was tested.

Run (the scenario is switched through the gateway's admin API, or on each mock)::

    .venv/bin/locust -f loadtests/timeouts.py --headless -u 20 -r 20 -t 1m \
        --host http://127.0.0.1:8000 --ndxp-scenario fm-01 --csv .ndxp/load/timeouts
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from locust import between, events, task
from locust.env import Environment

from loadtests.common import (
    NdxpUser,
    admin_client,
    is_controller,
    problem_code,
    sample_ids,
    set_scenario,
)
from loadtests.provinces import window

log = logging.getLogger("ndxp.timeouts")

SLOW = "business-registry"
HEALTHY = "population"
TIMEOUT_NAME = "[504 upstream_timeout]"
# Total timeout (s) per "<provider>.<operation id>", read from the gateway at the start.
BOUNDS: dict[str, float] = {}


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_kw: Any) -> None:
    parser.add_argument(
        "--ndxp-timeout-margin",
        type=float,
        default=0.5,
        help="Seconds a 504 may arrive after the operation's total timeout.",
    )
    parser.add_argument(
        "--ndxp-scenario",
        default="",
        help="Failure scenario to switch on at the start, and back to baseline at the end "
        "(e.g. fm-01); default: leave the mocks as they are.",
    )


@events.test_start.add_listener
def _read_timeouts(environment: Environment, **_kw: Any) -> None:
    with admin_client(environment) as admin:
        registry = admin.get("/admin/registry").raise_for_status().json()
    for provider in registry["providers"]:
        for op in provider["operations"]:
            BOUNDS[op["service"]] = float(op["timeouts"]["total_s"])
    scenario = environment.parsed_options.ndxp_scenario
    if scenario and is_controller(environment):
        set_scenario(environment, scenario)


@events.test_stop.add_listener
def _restore(environment: Environment, **_kw: Any) -> None:
    if environment.parsed_options.ndxp_scenario and is_controller(environment):
        set_scenario(environment, "baseline")


class SlowProviderCaller(NdxpUser):
    """A province's system calling a slow and a healthy national database."""

    wait_time = between(0.05, 0.2)

    def on_start(self) -> None:
        super().on_start()
        self.ids = sample_ids(self.environment, self.consumer.province, 50)

    def timed(self, path: str, *, service: str, name: str, slow: bool) -> None:
        headers = {"Authorization": f"Bearer {self.token()}"}
        with self.client.get(path, name=name, headers=headers, catch_response=True) as response:
            elapsed_s = (response.request_meta.get("response_time") or 0) / 1000
            bound = BOUNDS.get(service, 0) + self.environment.parsed_options.ndxp_timeout_margin
            status = response.status_code
            if elapsed_s > bound:
                response.failure(f"answered after {elapsed_s:.2f} s > timeout + margin {bound:.2f}")
            elif slow and status == 504 and response.headers.get("X-NDXP-Error"):
                response.request_meta["name"] = f"{name} {TIMEOUT_NAME}"
                response.success()
            elif 200 <= status < 300:
                response.success()
            else:
                response.failure(f"{status} {problem_code(response)}")

    @task(3)
    def slow_provider(self) -> None:
        query = f"{window(date(2024, 6, 3))}&province={self.consumer.province}"
        self.timed(
            f"/{SLOW}/v1/enterprise-dossiers?{query}",
            service=f"{SLOW}.list_enterprise_dossiers",
            name=f"GET /{SLOW}/v1/enterprise-dossiers",
            slow=True,
        )

    @task(2)
    def healthy_provider(self) -> None:
        self.timed(
            f"/{HEALTHY}/v1/citizens/{self.rng.choice(self.ids)}",
            service=f"{HEALTHY}.get_citizen",
            name=f"GET /{HEALTHY}/v1/citizens/{{personal_id}}",
            slow=False,
        )


@events.quitting.add_listener
def _check(environment: Environment, **_kw: Any) -> None:
    if not is_controller(environment):
        return
    timeouts = sum(
        entry.num_requests
        for (name, _), entry in environment.stats.entries.items()
        if name.endswith(TIMEOUT_NAME)
    )
    problems = []
    if environment.stats.total.num_failures:
        problems.append(
            f"{environment.stats.total.num_failures} answers late, wrong, or healthy calls "
            "refused (see the failures CSV)"
        )
    if timeouts == 0:
        problems.append("no 504 upstream_timeout seen: is a slow-provider scenario on?")
    for problem in problems:
        log.error("TIMEOUT CHECK FAILED: %s", problem)
    if not problems:
        log.info("timeout check passed: %d timely 504s, healthy provider served", timeouts)
    environment.process_exit_code = 1 if problems else 0
