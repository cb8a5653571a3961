"""Scale-out on real engines: two gateway instances × two workers behind nginx, sharing a Redis
quota store and a PostgreSQL exchange log, under 200 concurrent clients.

The stack is what ``ndxp-sim up --replicas 2`` runs (real OS processes, real sockets), with a
private redis-server (AOF, fsync always) and a private PostgreSQL cluster of this module's own
on free ports, so they can be killed and stopped without touching the machine's shared servers.
The local-midnight rollover needs a clock the test controls, so it runs two gateway apps
in-process (each on a real socket, one injected clock) on the same private Redis.

Redis, PostgreSQL and nginx must be installed: without them these tests fail, never skip
(``.ci/run`` installs nginx; the Debian packages redis-server and postgresql bring the rest).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from gateway.app import create_app
from gateway.quotas import LOCAL_TZ
from gateway.quotas_redis import EXPIRY_GRACE_S
from gateway.testing import admin_headers, gateway_settings, serve_in_thread, small_registry
from mock_services.population import sample_ids
from ndxp_sim.balancer import find_nginx
from ndxp_sim.private_servers import (
    PrivatePostgres,
    PrivateRedis,
    ServerMissing,
    private_postgres,
    private_redis,
)
from ndxp_sim.testing import Stack, running_stack

pytestmark = pytest.mark.integration

CLIENTS = 200
LIMIT = 100
SERVICE = "population.get_citizen"
TIMEOUT = httpx.Timeout(60.0)


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRedis]:
    with private_redis(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture(scope="module")
def postgres_server() -> Iterator[PrivatePostgres]:
    with private_postgres() as server:
        yield server


@pytest.fixture(scope="module")
def stack(
    tmp_path_factory: pytest.TempPathFactory,
    redis_server: PrivateRedis,
    postgres_server: PrivatePostgres,
) -> Iterator[Stack]:
    nginx = find_nginx()
    if nginx is None:
        raise ServerMissing("nginx is not installed: apt-get install nginx (.ci/run does)")
    env = {
        "NDXP_GATEWAY__WORKERS": "2",
        "NDXP_GATEWAY__QUOTA_STORE_URL": redis_server.url,
        "NDXP_GATEWAY__EXCHANGE_LOG_URL": postgres_server.url,
    }
    with running_stack(
        tmp_path_factory.mktemp("state"), env, replicas=2, nginx=nginx, timeout_s=120
    ) as running:
        yield running


def secret(consumer: str) -> str:
    return "dev-secret-" + consumer.removeprefix("onestop-")


async def token(client: httpx.AsyncClient, consumer: str) -> dict[str, str]:
    form = {"grant_type": "client_credentials", "client_id": consumer}
    response = await client.post("/oauth2/token", data={**form, "client_secret": secret(consumer)})
    response.raise_for_status()
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def set_quota(stack: Stack, consumer: str, limit: int) -> None:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=TIMEOUT) as admin:
        url = f"/admin/quotas/{consumer}/{SERVICE}"
        (
            await admin.put(url, json={"limit": limit}, headers=stack.admin_headers)
        ).raise_for_status()
        reset = f"/admin/quotas/{consumer}/reset"
        (await admin.post(reset, headers=stack.admin_headers)).raise_for_status()


async def used(stack: Stack, consumer: str) -> int:
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=TIMEOUT) as admin:
        response = await admin.get(
            "/admin/quotas", params={"consumer": consumer}, headers=stack.admin_headers
        )
        response.raise_for_status()
    items = response.json()["items"]
    return next(int(i["used"]) for i in items if i["service"] == SERVICE)


async def burst(
    base_url: str | list[str], headers: dict[str, str], count: int = CLIENTS
) -> list[httpx.Response]:
    """``count`` concurrent calls of get_citizen (spread over the URLs when several)."""
    urls = [base_url] if isinstance(base_url, str) else base_url
    pid = sample_ids(2024, "038")[0]
    limits = httpx.Limits(max_connections=count, max_keepalive_connections=count)
    async with contextlib.AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, timeout=TIMEOUT, limits=limits)
            )
            for url in urls
        ]
        return list(
            await asyncio.gather(
                *(
                    clients[i % len(clients)].get(f"/population/v1/citizens/{pid}", headers=headers)
                    for i in range(count)
                )
            )
        )


def odd(responses: list[httpx.Response]) -> list[str]:
    """The bodies of answers that are neither 200 nor 429 (for assertion messages)."""
    return [f"{r.status_code} {r.text[:300]}" for r in responses if r.status_code not in (200, 429)]


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    counted: dict[int, int] = {}
    for response in responses:
        counted[response.status_code] = counted.get(response.status_code, 0) + 1
    return counted


async def wait_for_records(stack: Stack, consumer: str, expected: int) -> set[str]:
    """The exchange ids the log holds for ``consumer``, once it holds ``expected`` of them
    (records reach PostgreSQL through each worker's journal, a little after the answers)."""
    deadline = asyncio.get_running_loop().time() + 90
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=TIMEOUT) as admin:
        while True:
            response = await admin.get(
                "/admin/exchanges/export",
                params={"consumer": consumer, "format": "jsonl"},
                headers=stack.admin_headers,
            )
            response.raise_for_status()
            ids = {line.split('"exchange_id":"')[1][:32] for line in response.text.splitlines()}
            if len(ids) >= expected or asyncio.get_running_loop().time() > deadline:
                return ids
            await asyncio.sleep(0.5)  # polling a condition, bounded by the deadline


# --- exact across instances ----------------------------------------------------------------


async def test_200_clients_on_two_instances_get_exactly_the_quota_three_rounds(
    stack: Stack,
) -> None:
    consumer = "onestop-thanh-hoa"
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=TIMEOUT) as client:
        headers = await token(client, consumer)
    answered: list[httpx.Response] = []
    for round_ in range(3):
        await set_quota(stack, consumer, LIMIT)
        responses = await burst(stack.gateway_url, headers)
        assert statuses(responses) == {200: LIMIT, 429: CLIENTS - LIMIT}, (round_, odd(responses))
        assert await used(stack, consumer) == LIMIT
        refused = next(r for r in responses if r.status_code == 429)
        assert refused.json()["code"] == "quota_exceeded"
        assert refused.headers["ratelimit"].startswith(f'"daily-{SERVICE}";r=0;')
        answered += responses
    ids = {r.headers["x-ndxp-exchange-id"] for r in answered}
    assert await wait_for_records(stack, consumer, len(ids)) == ids  # records == answers


# --- Redis killed mid-run --------------------------------------------------------------------


async def test_redis_killed_mid_burst_closed_policy_refuses_and_nothing_is_over_admitted(
    stack: Stack, redis_server: PrivateRedis
) -> None:
    consumer = "onestop-nghe-an"
    await set_quota(stack, consumer, LIMIT)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=TIMEOUT) as client:
        headers = await token(client, consumer)
    first = await burst(stack.gateway_url, headers, 40)
    assert statuses(first) == {200: 40}
    # Killed while 200 calls are in flight: some counted, the rest refused, none unmetered.
    killer = asyncio.get_running_loop().run_in_executor(None, redis_server.kill)
    during = await burst(stack.gateway_url, headers)
    await killer
    after_kill = await burst(stack.gateway_url, headers, 50)
    redis_server.start()  # same port, same AOF: the counts come back; the gateway was not restarted
    recovered = await burst(stack.gateway_url, headers)
    answers = first + during + after_kill + recovered

    assert statuses(after_kill) == {503: 50}
    refusal = after_kill[0]
    assert refusal.json()["code"] == "quota_unavailable"
    assert refusal.headers["x-ndxp-error"] == "quota_unavailable"
    assert set(statuses(during)) <= {200, 429, 503}
    admitted = sum(r.status_code == 200 for r in answers)
    assert admitted <= LIMIT  # never over-admitted, whatever the kill interrupted
    assert await used(stack, consumer) == LIMIT  # the counter stops at the limit
    assert statuses(recovered).get(200, 0) >= 1  # counting resumed without a restart
    ids = {r.headers["x-ndxp-exchange-id"] for r in answers}
    assert await wait_for_records(stack, consumer, len(ids)) == ids  # every exchange logged


# --- PostgreSQL stopped and restarted mid-run -----------------------------------------------


async def test_postgres_stopped_mid_run_routing_goes_on_and_records_equal_answers(
    stack: Stack, postgres_server: PrivatePostgres
) -> None:
    consumer = "onestop-ha-noi"
    await set_quota(stack, consumer, 10 * CLIENTS)
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=TIMEOUT) as client:
        headers = await token(client, consumer)
    before = await burst(stack.gateway_url, headers)
    stopper = asyncio.get_running_loop().run_in_executor(None, postgres_server.stop)
    during = await burst(stack.gateway_url, headers)
    await stopper
    down = await burst(stack.gateway_url, headers)  # PostgreSQL is down for all of these
    await asyncio.get_running_loop().run_in_executor(None, postgres_server.start)
    answers = before + during + down

    assert statuses(answers) == {200: 3 * CLIENTS}  # routing never depended on the log
    ids = {r.headers["x-ndxp-exchange-id"] for r in answers}
    assert await wait_for_records(stack, consumer, len(ids)) == ids


# --- local midnight, with a clock the test holds -----------------------------------------------


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.mark.parametrize("policy", ["closed", "open"])
async def test_two_instances_roll_over_at_local_midnight_and_survive_redis_loss(
    tmp_path: Path, redis_server: PrivateRedis, policy: str
) -> None:
    if not redis_server.ping():
        redis_server.start()
    registry = small_registry(service_quotas={SERVICE: LIMIT})
    # Each run its own days (the private Redis outlives a test): nothing counted before.
    day = date(2025, 3, 14) + timedelta(days=10 * ["closed", "open"].index(policy))
    clock = Clock(datetime.combine(day, time(23, 59, 59, 500_000), LOCAL_TZ))
    metrics = [CollectorRegistry(), CollectorRegistry()]
    ok = httpx.MockTransport(lambda _: httpx.Response(200, json={"loc": [], "msg": "", "type": ""}))
    apps: list[Any] = []
    for n in range(2):
        settings = gateway_settings(
            tmp_path / f"instance-{n}",
            registry,
            quota_store_url=redis_server.url,
            quota_failure_policy=policy,
        )
        apps.append(
            create_app(
                settings,
                transports={"population": ok, "civil-registry": ok},
                registry=metrics[n],
                clock=clock,
            )
        )
    with serve_in_thread(apps[0]) as first, serve_in_thread(apps[1]) as second:
        async with httpx.AsyncClient(base_url=first, timeout=TIMEOUT) as client:
            headers = await token(client, "onestop-thanh-hoa")
        urls = [first, second]
        # Each instance answers once, alone, before the bursts: the two apps share this process,
        # and their first requests build pydantic and FastAPI internals lazily, which is not
        # thread-safe (separate processes in production never share them). Neither call counts
        # against a quota: a forbidden service and an admin read.
        for url in urls:
            async with httpx.AsyncClient(base_url=url, timeout=TIMEOUT) as client:
                forbidden = await client.get("/civil-registry/v1/registrations/1", headers=headers)
                assert forbidden.status_code == 403
                admin = await client.get("/admin/quotas", headers=admin_headers())
                assert admin.status_code == 200
        day_one = await burst(urls, headers)
        clock.now += timedelta(seconds=1)  # 00:00:00.5 local, 17:00:00.5 UTC: a new quota day
        day_two = await burst(urls, headers)
        assert statuses(day_one) == {200: LIMIT, 429: CLIENTS - LIMIT}, odd(day_one)
        assert statuses(day_two) == {200: LIMIT, 429: CLIENTS - LIMIT}, odd(day_two)
        spent = next(r for r in day_one if r.status_code == 429)
        assert spent.headers["ratelimit"].endswith(";t=1")  # half a second to midnight
        fresh = next(r for r in day_two if r.status_code == 200)
        assert fresh.headers["ratelimit"].endswith(f";t={86_400}")

        expiry = await _expiry_of_day(redis_server, day)
        local_midnight = datetime.combine(day + timedelta(days=1), time(0), LOCAL_TZ)
        # A day long past on the wall clock: kept the grace after its last write, then gone.
        assert expiry is not None
        assert expiry >= int(datetime.now(UTC).timestamp()) + EXPIRY_GRACE_S - 120
        assert local_midnight.astimezone(UTC).hour == 17

        clock.now += timedelta(days=1)
        redis_server.kill()
        try:
            lost = await burst(urls, headers)
        finally:
            redis_server.start()
        unmetered = sum(
            m.get_sample_value(
                "ndxp_quota_unmetered_total", {"consumer": "onestop-thanh-hoa", "service": SERVICE}
            )
            or 0
            for m in metrics
        )
    if policy == "closed":
        assert statuses(lost) == {503: CLIENTS}
        assert unmetered == 0
    else:
        # Admitted without counting, each one counted in the metric of the instance that did.
        assert statuses(lost) == {200: CLIENTS}
        assert all("ratelimit" not in r.headers for r in lost)
        assert unmetered == CLIENTS


async def _expiry_of_day(server: PrivateRedis, day: date) -> int | None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(server.url, decode_responses=True)
    try:
        keys = [k async for k in client.scan_iter(match=f"ndxp:quota:*:{day.isoformat()}")]
        if not keys:
            return None
        return int(await client.expiretime(keys[0]))
    finally:
        await client.aclose()
