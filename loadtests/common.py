"""What every locustfile here shares: options, consumers, tokens, and honest outcome counting.

Each simulated user is one provincial one-stop system (*HTTT giải quyết TTHC cấp tỉnh*): it
takes the credentials of its province's consumer from the registry the gateway loads
(``NDXP_GATEWAY__REGISTRY_PATH`` or the shipped default), gets its own token, and refreshes it
before it expires.

Outcomes are counted the way ops read them. A 429 ``quota_exceeded`` after the quota is spent
is what the gateway must do, so it is a success — under its own row, the request name plus
``[429]``, so the CSV shows admitted and refused side by side. A 429 without ``Retry-After``
and ``RateLimit`` headers is a failure. Everything else that is not the expected answer is a
failure with the problem ``code`` in its message.

Run from the repository root (Locust puts the working directory on ``sys.path``, which is how
``loadtests`` and the project's packages import).
"""

from __future__ import annotations

import functools
import itertools
import logging
import random
import time
import urllib.parse
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gevent
import httpx
import yaml
from locust import FastHttpUser, events
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment
from locust.runners import WorkerRunner

from contracts.provinces import PROVINCES, find_province
from gateway.registry import load_registry
from loadtests.hosts import host_for, split_hosts
from ndxp_config.settings import DEV_ADMIN_TOKEN, MOCK_NAMES, get_settings

log = logging.getLogger("ndxp.loadtests")
logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per admin call is noise

ROOT = Path(__file__).resolve().parent.parent
TOKEN_MARGIN_S = 30.0  # refresh this long before the token expires
RATELIMIT_HEADERS = ("Retry-After", "RateLimit", "RateLimit-Policy")
POPULATION = {p.code: p.population_k for p in PROVINCES}


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_kw: Any) -> None:
    parser.add_argument(
        "--ndxp-provinces",
        default="",
        env_var="NDXP_LOAD_PROVINCES",
        help="Comma-separated provinces (slug, code or name); empty: all 63, weighted by "
        "population.",
    )
    parser.add_argument(
        "--ndxp-admin-token",
        default="",
        env_var="NDXP_GATEWAY__ADMIN_TOKEN",
        is_secret=True,
        help="The gateway's admin token (quota and exchange checks); default: the dev token.",
    )
    parser.add_argument(
        "--ndxp-flow-rate",
        type=float,
        default=0.25,
        help="Flows per second each user runs (fixed pacing, Locust's constant_throughput).",
    )
    parser.add_argument(
        "--ndxp-seed",
        type=int,
        default=None,
        help="Seed of the mocks' data (personal ids that exist); default: NDXP_MOCKS__SEED.",
    )
    parser.add_argument(
        "--ndxp-until",
        action="append",
        default=[],
        help="End the run, as -t does, once this request name has been counted: NAME, or "
        "NAME>=N for at least N. Repeatable (all must hold); -t still bounds the run.",
    )


@dataclass(frozen=True)
class Consumer:
    """One provincial one-stop system as the registry knows it."""

    id: str
    client_id: str
    client_secret: str
    province: str  # three-digit code
    weight: float


@functools.cache
def consumers(selection: str = "") -> tuple[Consumer, ...]:
    """The consumers of the registry in force, limited to ``selection`` if it names any."""
    registry = load_registry(get_settings())
    by_province = {c.province: c for c in registry.consumers if c.province}
    wanted = [s.strip() for s in selection.split(",") if s.strip()]
    if wanted:
        codes = []
        for name in wanted:
            found = find_province(name)
            if found is None or found.code not in by_province:
                raise ValueError(f"--ndxp-provinces: no consumer for province {name!r}")
            codes.append(found.code)
    else:
        codes = sorted(by_province)
    return tuple(
        Consumer(
            id=by_province[code].id,
            client_id=by_province[code].client_id,
            client_secret=by_province[code].client_secret.get_secret_value(),
            province=code,
            weight=POPULATION.get(code, 1),
        )
        for code in codes
    )


def seed(environment: Environment) -> int:
    chosen = getattr(environment.parsed_options, "ndxp_seed", None)
    return int(chosen) if chosen is not None else get_settings().mocks.seed


def admin_client(environment: Environment) -> httpx.Client:
    """An httpx client on the gateway's admin API (under gevent it blocks cooperatively)."""
    token = getattr(environment.parsed_options, "ndxp_admin_token", "") or DEV_ADMIN_TOKEN
    return httpx.Client(
        base_url=host_for(0, environment.host) or get_settings().gateway.url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=10.0,
    )


def is_controller(environment: Environment) -> bool:
    """True on the process that owns the totals: a master, or a local (single) runner."""
    return not isinstance(environment.runner, WorkerRunner)


def until_goals(values: Iterable[str]) -> list[tuple[str, int]]:
    """``--ndxp-until`` values as (request name, at least this many)."""
    goals = []
    for value in values:
        name, _, count = value.rpartition(">=")
        goals.append((name, int(count)) if name else (value, 1))
    return goals


def counted(environment: Environment, name: str) -> int:
    """Requests counted so far under ``name`` (every method); a master's lag behind its
    workers (their report interval) only delays the answer."""
    entries = environment.stats.entries.items()
    return sum(entry.num_requests for (entry_name, _), entry in entries if entry_name == name)


@events.test_start.add_listener
def _end_when_counted(environment: Environment, **_kw: Any) -> None:
    goals = until_goals(getattr(environment.parsed_options, "ndxp_until", None) or [])
    if not goals or not is_controller(environment):
        return

    def watch() -> None:
        while not all(counted(environment, name) >= least for name, least in goals):
            gevent.sleep(0.2)
        log.info("--ndxp-until reached, shutting down")
        assert environment.runner is not None
        environment.runner.quit()  # what -t does when its time is up: verdicts still run

    gevent.spawn(watch)


def problem_code(response: Any) -> str:
    """The problem ``code`` of an error body, else its status."""
    try:
        return str(response.json().get("code", response.status_code))
    except (ValueError, AttributeError):  # not JSON, or not an object
        return str(response.status_code)


def missing_ratelimit_headers(headers: Any) -> list[str]:
    """Which of ``Retry-After``, ``RateLimit``, ``RateLimit-Policy`` a 429 lacks."""
    present = {str(k).lower() for k in (headers or {})}
    return [name for name in RATELIMIT_HEADERS if name.lower() not in present]


def set_scenario(environment: Environment, name: str) -> None:
    """Switch every mock to scenario ``name``: through the gateway's admin API when it has
    ``PUT /admin/scenario``, else on each mock (``PUT /_faults/scenario``, same token)."""
    with admin_client(environment) as admin:
        response = admin.put("/admin/scenario", json={"name": name})
        if response.status_code not in (404, 405):
            response.raise_for_status()
            return
        data = yaml.safe_load((ROOT / "scenarios" / f"{name}.yaml").read_text(encoding="utf-8"))
        settings = get_settings()
        for mock in MOCK_NAMES:
            admin.put(f"{settings.mocks.url(mock)}/_faults/scenario", json=data).raise_for_status()


class NdxpUser(FastHttpUser):
    """A province's system: its consumer, its token, and :meth:`call` that counts honestly."""

    abstract = True
    _counter = itertools.count()
    _spread = itertools.count()

    def __init__(self, environment: Environment) -> None:
        # A --host list (several gateway instances, no balancer): each user takes one in turn.
        if len(split_hosts(environment.host)) > 1:
            self.host = host_for(next(NdxpUser._spread), environment.host)
        super().__init__(environment)

    def on_start(self) -> None:
        index = next(NdxpUser._counter)
        self.rng = random.Random(f"{seed(self.environment)}-{index}")
        self.seed = seed(self.environment)
        self.consumer = self.choose_consumer(index)
        self._token = ""
        self._token_expires = 0.0

    def choose_consumer(self, index: int) -> Consumer:
        """Weighted by population across the chosen provinces."""
        pool = consumers(self.environment.parsed_options.ndxp_provinces)
        return self.rng.choices(pool, weights=[c.weight for c in pool])[0]

    def token(self) -> str:
        if time.monotonic() < self._token_expires:
            return self._token
        form = {
            "grant_type": "client_credentials",
            "client_id": self.consumer.client_id,
            "client_secret": self.consumer.client_secret,
        }
        with self.client.post(
            "/oauth2/token",
            data=urllib.parse.urlencode(form),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            name="POST /oauth2/token",
            catch_response=True,
        ) as response:
            if response.status_code != 200:
                response.failure(f"token refused: {problem_code(response)}")
                return ""
            body = response.json()
        self._token = body["access_token"]
        self._token_expires = time.monotonic() + float(body["expires_in"]) - TOKEN_MARGIN_S
        return self._token

    def call(
        self,
        method: str,
        path: str,
        *,
        name: str,
        ok: Iterable[int] = (200,),
        json: Any = None,
    ) -> ResponseContextManager | None:
        """One exchange through the gateway; returns the response if it was an expected one.

        ``ok`` are the statuses this step of the flow expects (e.g. 404 for a lookup of an id
        that may not exist). A 429 is expected too, recorded under ``name + " [429]"``.
        """
        headers = {"Authorization": f"Bearer {self.token()}"}
        with self.client.request(
            method, path, name=name, headers=headers, json=json, catch_response=True
        ) as response:
            status = response.status_code
            if status == 429:
                response.request_meta["name"] = f"{name} [429]"
                missing = missing_ratelimit_headers(response.headers)
                if missing:
                    response.failure(f"429 without {', '.join(missing)}")
                else:
                    response.success()
                return None
            if status in set(ok):
                response.success()
                return response
            response.failure(f"{status} {problem_code(response)}")
            return None


def sample_ids(environment: Environment, province: str, count: int) -> Sequence[str]:
    """Personal ids that exist in the population mock for ``province``."""
    from mock_services.population import sample_ids as _sample_ids

    return _sample_ids(seed(environment), province, count)
