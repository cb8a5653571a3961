"""Drive chosen provinces past their daily population quota at a fixed rate, then check it held.

Every user is one of the chosen provinces' one-stop systems (``--ndxp-provinces``, default
Thanh Hóa) looking citizens up (``population.get_citizen``, the service the reports cap at
50,000 a day). Together they send ``--ndxp-rate`` requests per second, whatever the number of
users (each paces itself at rate ÷ users with ``constant_throughput``), until the run ends.

At the start (on the master, or the only process) the run reads each province's quota from
the admin API — or sets it with ``--ndxp-quota N``, so a check takes seconds, not 50,000
lookups — and notes today's usage. At the end it fails the run (exit code 1) unless, for
every province:

* the quota is spent: the admin API shows ``used == limit``;
* the gateway admitted exactly ``limit - used at start`` lookups — as counted by Locust
  (non-429 answers), and by the gateway's exchange log (admin ``/admin/exchanges``);
* every 429 carried ``Retry-After``, ``RateLimit`` and ``RateLimit-Policy`` (a 429 without
  them is recorded as a failure when it arrives, see ``loadtests/common.py``);
* nothing else failed.

Run::

    .venv/bin/locust -f loadtests/quota_exhaustion.py --headless -u 20 -r 20 -t 30s \
        --host http://127.0.0.1:8000 --ndxp-provinces thanh-hoa,ha-noi --ndxp-quota 500 \
        --ndxp-rate 100 --csv .ndxp/load/quota --html .ndxp/load/quota.html
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from locust import constant_throughput, events, task
from locust.env import Environment
from tenacity import retry, retry_if_result, stop_after_delay, wait_fixed

from loadtests.common import Consumer, NdxpUser, admin_client, consumers, is_controller, sample_ids

log = logging.getLogger("ndxp.quota_exhaustion")

SERVICE = "population.get_citizen"
NAME = "GET /population/v1/citizens/{personal_id}"
DEFAULT_PROVINCES = "thanh-hoa"


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_kw: Any) -> None:
    parser.add_argument(
        "--ndxp-rate",
        type=float,
        default=50.0,
        help="Requests per second from all users together (fixed rate).",
    )
    parser.add_argument(
        "--ndxp-quota",
        type=int,
        default=None,
        help=f"Set each chosen province's {SERVICE} quota to N at the start (admin API); "
        "default: keep the quota in force.",
    )
    parser.add_argument(
        "--ndxp-reset-usage",
        action="store_true",
        default=False,
        help=f"Zero today's {SERVICE} usage of the chosen provinces at the start.",
    )


@dataclass
class Expectation:
    """What the run believes about one province: the limit, and usage when it started."""

    consumer: Consumer
    limit: int
    used_at_start: int

    @property
    def admissible(self) -> int:
        return max(0, self.limit - self.used_at_start)


EXPECTED: dict[str, Expectation] = {}
# Overrides in force before --ndxp-quota replaced them: put back when the run ends, since
# overrides persist — left behind, the province would be refused for the rest of the day.
REPLACED_OVERRIDES: dict[str, int | None] = {}
STARTED: list[datetime] = []


def chosen(environment: Environment) -> tuple[Consumer, ...]:
    return consumers(environment.parsed_options.ndxp_provinces or DEFAULT_PROVINCES)


def service_entry(report: dict[str, Any], consumer_id: str) -> dict[str, Any]:
    for item in report["items"]:
        if item["consumer"] == consumer_id and item["service"] == SERVICE:
            return dict(item)
    raise LookupError(f"no {SERVICE} quota for {consumer_id} in the admin API's answer")


@events.test_start.add_listener
def _note_quotas(environment: Environment, **_kw: Any) -> None:
    if not is_controller(environment):
        return
    options = environment.parsed_options
    # Workers are not sent -u; a custom option is forwarded to them with each spawn job, so
    # every user, wherever it runs, paces itself at its share of the total rate.
    options.ndxp_total_users = options.num_users or 1
    STARTED[:] = [datetime.now(UTC)]
    with admin_client(environment) as admin:
        for consumer in chosen(environment):
            if options.ndxp_quota is not None:
                before = admin.get("/admin/quotas", params={"consumer": consumer.id})
                previous = service_entry(before.raise_for_status().json(), consumer.id)
                REPLACED_OVERRIDES.setdefault(consumer.id, previous["override"])
                admin.put(
                    f"/admin/quotas/{consumer.id}/{SERVICE}", json={"limit": options.ndxp_quota}
                ).raise_for_status()
            if options.ndxp_reset_usage:
                admin.post(
                    f"/admin/quotas/{consumer.id}/reset", params={"service": SERVICE}
                ).raise_for_status()
            response = admin.get("/admin/quotas", params={"consumer": consumer.id})
            entry = service_entry(response.raise_for_status().json(), consumer.id)
            if entry["limit"] is None:
                raise ValueError(f"{consumer.id} has no {SERVICE} quota; pass --ndxp-quota N")
            EXPECTED[consumer.id] = Expectation(consumer, entry["limit"], entry["used"])
            log.info("%s: quota %d, used %d at start", consumer.id, entry["limit"], entry["used"])


class QuotaExhaustion(NdxpUser):
    """A chosen province's system looking citizens up at its share of the fixed rate."""

    def wait_time(self) -> float:
        options = self.environment.parsed_options
        users = getattr(options, "ndxp_total_users", None) or options.num_users or 1
        per_user = options.ndxp_rate / users
        return constant_throughput(per_user)(self)

    def choose_consumer(self, index: int) -> Consumer:
        """Round-robin over the chosen provinces, so each gets the same share."""
        pool = chosen(self.environment)
        return pool[index % len(pool)]

    def on_start(self) -> None:
        super().on_start()
        self.ids = sample_ids(self.environment, self.consumer.province, 50)

    @task
    def lookup(self) -> None:
        personal_id = self.rng.choice(self.ids)
        self.call(
            "GET",
            f"/population/v1/citizens/{personal_id}",
            name=f"{self.consumer.id} {NAME}",
            ok=(200, 404),
        )


def client_counts(environment: Environment, consumer_id: str) -> tuple[int, int]:
    """(admitted, refused with 429) as Locust saw them, summed over workers."""
    admitted = environment.stats.get(f"{consumer_id} {NAME}", "GET").num_requests
    refused = environment.stats.get(f"{consumer_id} {NAME} [429]", "GET").num_requests
    return admitted, refused


def gateway_admitted(environment: Environment, consumer_id: str) -> int:
    """Lookups the exchange log shows admitted since the start (all records minus 429s).

    The log is written in batches off the request path; the count is read until it stops
    moving (tenacity, at most 5 s), so a slow writer is not mistaken for over-admission.
    """
    params = {"consumer": consumer_id, "service": SERVICE, "limit": 1}
    params["since"] = STARTED[0].isoformat()
    seen: list[int] = []

    @retry(
        retry=retry_if_result(lambda n: len(seen) < 2 or seen[-2] != n),
        stop=stop_after_delay(5),
        wait=wait_fixed(0.2),
        retry_error_callback=lambda state: state.outcome.result() if state.outcome else 0,
    )
    def read() -> int:
        with admin_client(environment) as admin:
            total = admin.get("/admin/exchanges", params=params).raise_for_status().json()
            refused = (
                admin.get("/admin/exchanges", params={**params, "outcome": "quota_exceeded"})
                .raise_for_status()
                .json()
            )
        seen.append(int(total["total"]) - int(refused["total"]))
        return seen[-1]

    return int(read())


def verdicts(environment: Environment) -> list[str]:
    """Every broken expectation, one line each; empty when the gateway held every quota."""
    problems = []
    with admin_client(environment) as admin:
        for consumer_id, expected in EXPECTED.items():
            report = admin.get("/admin/quotas", params={"consumer": consumer_id}).json()
            entry = service_entry(report, consumer_id)
            admitted, refused = client_counts(environment, consumer_id)
            logged = gateway_admitted(environment, consumer_id)
            log.info(
                "%s: quota %d (now %s), used %d→%d; admitted %d (Locust) / %d (exchange log), "
                "429s %d",
                consumer_id,
                expected.limit,
                entry["limit"],
                expected.used_at_start,
                entry["used"],
                admitted,
                logged,
                refused,
            )
            if entry["used"] < expected.limit:
                problems.append(
                    f"{consumer_id}: quota not spent ({entry['used']} of {expected.limit}); "
                    "run longer or at a higher --ndxp-rate"
                )
            if admitted != expected.admissible or logged != expected.admissible:
                problems.append(
                    f"{consumer_id}: over- or under-admission: expected {expected.admissible} "
                    f"admitted, Locust saw {admitted}, the exchange log {logged}"
                )
            if refused == 0:
                problems.append(f"{consumer_id}: no 429 seen; the run never went past the quota")
    failures = environment.stats.total.num_failures
    if failures:
        problems.append(
            f"{failures} requests failed (see the failures CSV), e.g. 429s without "
            "Retry-After/RateLimit headers"
        )
    return problems


def restore_overrides(environment: Environment) -> None:
    """Put back the quota overrides ``--ndxp-quota`` replaced (``null``: the registry's)."""
    with admin_client(environment) as admin:
        for consumer_id, previous in REPLACED_OVERRIDES.items():
            admin.put(
                f"/admin/quotas/{consumer_id}/{SERVICE}", json={"limit": previous}
            ).raise_for_status()
            log.info("%s: %s quota override restored to %s", consumer_id, SERVICE, previous)
    REPLACED_OVERRIDES.clear()


@events.quitting.add_listener
def _check(environment: Environment, **_kw: Any) -> None:
    if not is_controller(environment) or not EXPECTED:
        return
    problems = verdicts(environment)
    restore_overrides(environment)
    for problem in problems:
        log.error("QUOTA CHECK FAILED: %s", problem)
    if problems:
        environment.process_exit_code = 1
    else:
        log.info("quota check passed: every province admitted exactly its quota")
        environment.process_exit_code = 0
