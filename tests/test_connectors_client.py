"""NdxpClient against a scripted gateway (httpx.MockTransport): tokens, retries, quota, breaker.

The fake speaks the gateway's wire: ``POST /oauth2/token``, problem+json errors with
``X-NDXP-Error`` when the gateway made them and without it when a provider's answer is passed
on, ``X-NDXP-Exchange-Id`` and ``RateLimit`` on every answer. Time is a fake clock that the
injected sleep advances: nothing here waits.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from connectors import (
    CircuitOpen,
    ClientEvent,
    ContractViolation,
    GatewayUnreachable,
    InvalidRequest,
    NdxpClient,
    NdxpError,
    QuotaExceeded,
    TransportError,
    Unauthenticated,
    UpstreamTimeout,
)
from contracts.population import Citizen, CitizenVerification
from mock_services.population import citizen_record, sample_ids

SEED = 2024
PID = sample_ids(SEED, "038", 1)[0]
CITIZEN = citizen_record(SEED, PID).model_dump(mode="json")
Answer = httpx.Response | Callable[[httpx.Request], httpx.Response]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def problem(
    status: int, code: str, *, gateway: bool = True, headers: dict[str, str] | None = None
) -> httpx.Response:
    """An error answer: gateway-made (``X-NDXP-Error``) or a provider's, passed on."""
    extra = {"X-NDXP-Error": code} if gateway else {}
    return httpx.Response(
        status,
        json={"type": "about:blank", "title": code, "status": status, "code": code},
        headers={"Content-Type": "application/problem+json", **extra, **(headers or {})},
    )


def ok(body: Any = None, *, remaining: int | None = None, reset_s: int = 3600) -> httpx.Response:
    headers = {}
    if remaining is not None:
        headers["RateLimit"] = f'"daily-population.get_citizen";r={remaining};t={reset_s}'
    return httpx.Response(200, json=CITIZEN if body is None else body, headers=headers)


class FakeGateway:
    """Tokens ``tok-1``, ``tok-2`` ...; provider calls answered from ``script``, then ``ok()``."""

    def __init__(self, ttl_s: int = 300) -> None:
        self.ttl_s = ttl_s
        self.tokens_issued = 0
        self.valid: set[str] = set()
        self.calls: list[httpx.Request] = []
        self.script: list[Answer] = []

    def revoke_tokens(self) -> None:
        self.valid.clear()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/oauth2/token":
            form = dict(httpx.QueryParams(request.content.decode()))
            if form.get("client_secret") != "dev-secret-thanh-hoa":
                return problem(401, "unauthenticated")
            self.tokens_issued += 1
            token = f"tok-{self.tokens_issued}"
            self.valid.add(token)
            return httpx.Response(200, json={"access_token": token, "expires_in": self.ttl_s})
        self.calls.append(request)
        exchange = {"X-NDXP-Exchange-Id": f"ex-{len(self.calls)}"}
        if request.headers.get("authorization", "").removeprefix("Bearer ") not in self.valid:
            response = problem(401, "unauthenticated")
        else:
            answer = self.script.pop(0) if self.script else ok()
            response = answer(request) if callable(answer) else answer
        response.headers.update(exchange)
        return response


@pytest.fixture
def gateway() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def events() -> list[ClientEvent]:
    return []


@pytest.fixture
def make_client(
    gateway: FakeGateway, clock: FakeClock, events: list[ClientEvent]
) -> Callable[..., NdxpClient]:
    def make(secret: str = "dev-secret-thanh-hoa", **options: Any) -> NdxpClient:
        return NdxpClient(
            "http://gateway.test",
            "onestop-thanh-hoa",
            secret,
            transport=httpx.MockTransport(gateway),
            on_event=events.append,
            clock=clock,
            sleep=clock.sleep,
            **options,
        )

    return make


@pytest.fixture
async def ndxp(make_client: Callable[..., NdxpClient]) -> AsyncIterator[NdxpClient]:
    async with make_client() as client:
        yield client


def kinds(events: list[ClientEvent]) -> list[str]:
    return [event.kind for event in events]


# -- token ----------------------------------------------------------------------------------


async def test_lookup_returns_the_contract_model(ndxp: NdxpClient, gateway: FakeGateway) -> None:
    citizen = await ndxp.population.get_citizen(PID)

    assert isinstance(citizen, Citizen)
    assert citizen.personal_id == PID
    assert gateway.calls[0].url.path == f"/population/v1/citizens/{PID}"
    assert gateway.calls[0].headers["authorization"] == "Bearer tok-1"


async def test_token_is_fetched_once_and_reused(ndxp: NdxpClient, gateway: FakeGateway) -> None:
    for _ in range(3):
        await ndxp.population.get_citizen(PID)

    assert gateway.tokens_issued == 1


async def test_token_is_refreshed_before_it_expires(
    ndxp: NdxpClient, gateway: FakeGateway, clock: FakeClock
) -> None:
    await ndxp.population.get_citizen(PID)
    clock.now += gateway.ttl_s - ndxp.refresh_margin_s + 1  # inside the refresh margin

    await ndxp.population.get_citizen(PID)

    assert gateway.tokens_issued == 2
    assert gateway.calls[-1].headers["authorization"] == "Bearer tok-2"
    assert all(call.headers["authorization"] != "Bearer tok-1" for call in gateway.calls[1:])


async def test_token_is_kept_until_the_refresh_margin(
    ndxp: NdxpClient, gateway: FakeGateway, clock: FakeClock
) -> None:
    await ndxp.population.get_citizen(PID)
    clock.now += gateway.ttl_s - ndxp.refresh_margin_s - 1

    await ndxp.population.get_citizen(PID)

    assert gateway.tokens_issued == 1


async def test_401_fetches_a_fresh_token_and_sends_once_more(
    ndxp: NdxpClient, gateway: FakeGateway, events: list[ClientEvent]
) -> None:
    await ndxp.population.get_citizen(PID)
    gateway.revoke_tokens()  # e.g. the gateway's signing key was rotated

    await ndxp.population.get_citizen(PID)

    assert [c.headers["authorization"] for c in gateway.calls] == [
        "Bearer tok-1",
        "Bearer tok-1",
        "Bearer tok-2",
    ]
    token_events = [e for e in events if e.kind == "token"]
    assert token_events[-1].detail is not None
    assert token_events[-1].detail.startswith("refused (401)")


async def test_a_second_401_is_unauthenticated_without_more_tries(
    ndxp: NdxpClient, gateway: FakeGateway
) -> None:
    gateway.script = [problem(401, "unauthenticated")] * 5

    with pytest.raises(Unauthenticated):
        await ndxp.population.get_citizen(PID)

    assert len(gateway.calls) == 2


async def test_wrong_secret_is_unauthenticated_and_sends_nothing(
    make_client: Callable[..., NdxpClient], gateway: FakeGateway
) -> None:
    async with make_client(secret="wrong") as ndxp:
        with pytest.raises(Unauthenticated) as caught:
            await ndxp.population.get_citizen(PID)

    assert caught.value.from_gateway
    assert gateway.calls == []


# -- retries --------------------------------------------------------------------------------

RETRYABLE = {
    "upstream_timeout": problem(504, "upstream_timeout"),
    "upstream_unreachable": problem(502, "upstream_unreachable"),
    "upstream_reset": problem(502, "upstream_reset"),
    "provider_overloaded_passed_on": problem(503, "provider_overloaded", gateway=False),
    "service_unavailable_with_retry_after": problem(
        503, "service_unavailable", gateway=False, headers={"Retry-After": "2"}
    ),
    "provider_maintenance": problem(
        503, "provider_maintenance", gateway=False, headers={"Retry-After": "5"}
    ),
}


@pytest.mark.parametrize("failure", RETRYABLE.values(), ids=RETRYABLE.keys())
async def test_retryable_failure_is_retried_then_succeeds(
    ndxp: NdxpClient, gateway: FakeGateway, events: list[ClientEvent], failure: httpx.Response
) -> None:
    gateway.script = [failure]

    citizen = await ndxp.population.get_citizen(PID)

    assert citizen.personal_id == PID
    assert len(gateway.calls) == 2
    retry = next(e for e in events if e.kind == "retry")
    assert retry.code == failure.json()["code"]
    assert retry.attempt == 1
    assert ndxp.last_exchange is not None
    assert ndxp.last_exchange.attempts == 2
    assert ndxp.last_exchange.exchange_ids == ("ex-1", "ex-2")


NOT_RETRYABLE = {
    "invalid_request": problem(400, "invalid_request"),
    "forbidden": problem(403, "forbidden"),
    "unknown_service": problem(404, "unknown_service"),
    "not_found_passed_on": problem(404, "not_found", gateway=False),
    "citizen_mismatch_passed_on": problem(422, "citizen_mismatch", gateway=False),
    "dossier_code_conflict": problem(409, "dossier_code_conflict", gateway=False),
    "quota_exceeded": problem(429, "quota_exceeded", headers={"Retry-After": "60"}),
    "provider_error_500": problem(500, "provider_error", gateway=False),
    "gateway_error": problem(500, "gateway_error"),
}


@pytest.mark.parametrize("failure", NOT_RETRYABLE.values(), ids=NOT_RETRYABLE.keys())
async def test_other_answers_are_never_retried(
    ndxp: NdxpClient, gateway: FakeGateway, events: list[ClientEvent], failure: httpx.Response
) -> None:
    gateway.script = [failure, ok()]

    with pytest.raises(NdxpError) as caught:
        await ndxp.population.get_citizen(PID)

    assert len(gateway.calls) == 1
    assert caught.value.code == failure.json()["code"]
    assert caught.value.exchange_id == "ex-1"
    assert "retry" not in kinds(events)
    assert events[-1].kind == "give_up"
    assert events[-1].detail == f"{caught.value.code} is not retryable"


async def test_gives_up_after_max_attempts_with_jittered_exponential_backoff(
    make_client: Callable[..., NdxpClient],
    gateway: FakeGateway,
    clock: FakeClock,
    events: list[ClientEvent],
) -> None:
    gateway.script = [problem(504, "upstream_timeout")] * 10

    async with make_client(max_attempts=4) as ndxp:
        with pytest.raises(UpstreamTimeout):
            await ndxp.population.get_citizen(PID)

    assert len(gateway.calls) == 4
    assert len(clock.slept) == 3
    policy = ndxp.retry
    for n, delay in enumerate(clock.slept):
        assert 0 <= delay <= min(policy.backoff_max_s, policy.backoff_initial_s * 2**n)
    assert [e.delay_s for e in events if e.kind == "retry"] == clock.slept
    give_up = events[-1]
    assert (give_up.kind, give_up.attempt, give_up.code) == ("give_up", 4, "upstream_timeout")
    assert give_up.detail == "4 attempts failed"


async def test_retry_after_is_honoured_as_the_delay(
    ndxp: NdxpClient, gateway: FakeGateway, clock: FakeClock
) -> None:
    gateway.script = [
        problem(503, "service_unavailable", gateway=False, headers={"Retry-After": "7"})
    ]

    await ndxp.population.get_citizen(PID)

    assert clock.slept == [7.0]


async def test_retry_after_over_the_cap_gives_up_at_once(
    ndxp: NdxpClient, gateway: FakeGateway, clock: FakeClock, events: list[ClientEvent]
) -> None:
    long_wait = str(int(ndxp.retry.retry_after_cap_s) + 1)
    gateway.script = [
        problem(503, "provider_maintenance", gateway=False, headers={"Retry-After": long_wait})
    ]

    with pytest.raises(NdxpError) as caught:
        await ndxp.population.get_citizen(PID)

    assert caught.value.code == "provider_maintenance"
    assert caught.value.retry_after_s == float(long_wait)
    assert len(gateway.calls) == 1
    assert clock.slept == []
    assert events[-1].detail is not None
    assert "cap" in events[-1].detail


VERIFY = CitizenVerification(personal_id=PID, full_name="Nguyễn Văn A", date_of_birth="1990-01-01")  # type: ignore[arg-type]


async def test_post_without_idempotency_key_is_never_retried(
    ndxp: NdxpClient, gateway: FakeGateway, events: list[ClientEvent]
) -> None:
    gateway.script = [problem(502, "upstream_reset")]

    with pytest.raises(NdxpError, match="upstream_reset"):
        await ndxp.population.verify_citizen(VERIFY)

    assert len(gateway.calls) == 1
    assert "idempotency-key" not in gateway.calls[0].headers
    assert events[-1].detail == "POST without an Idempotency-Key is never retried"


async def test_post_with_idempotency_key_is_retried_with_the_same_key(
    ndxp: NdxpClient, gateway: FakeGateway
) -> None:
    gateway.script = [problem(502, "upstream_reset"), ok({"match": True})]

    result = await ndxp.population.verify_citizen(VERIFY, idempotency_key="key-1")

    assert result.match is True
    assert [c.headers["idempotency-key"] for c in gateway.calls] == ["key-1", "key-1"]
    assert gateway.calls[0].content == gateway.calls[1].content


async def test_connect_failure_is_retried(ndxp: NdxpClient, gateway: FakeGateway) -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    gateway.script = [refuse]

    await ndxp.population.get_citizen(PID)

    assert len(gateway.calls) == 2


async def test_read_timeout_to_the_gateway_is_not_retried(
    ndxp: NdxpClient, gateway: FakeGateway
) -> None:
    def hang(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("timed out", request=request)

    gateway.script = [hang]

    with pytest.raises(TransportError) as caught:
        await ndxp.population.get_citizen(PID)

    assert not isinstance(caught.value, GatewayUnreachable)
    assert isinstance(caught.value.__cause__, httpx.ReadTimeout)
    assert len(gateway.calls) == 1


# -- timeouts, results, events -------------------------------------------------------------


async def test_every_call_carries_an_explicit_timeout_and_a_call_can_override_it(
    make_client: Callable[..., NdxpClient], gateway: FakeGateway
) -> None:
    async with make_client(timeout=12.0) as ndxp:
        await ndxp.population.get_citizen(PID)
        await ndxp.population.get_citizen(PID, timeout=3.0)
        await ndxp.population.get_citizen(PID, timeout=httpx.Timeout(2.0, connect=1.0))

    timeouts = [call.extensions["timeout"] for call in gateway.calls]
    assert timeouts[0]["read"] == 12.0
    assert timeouts[1] == {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    assert timeouts[2]["connect"] == 1.0
    assert timeouts[2]["read"] == 2.0


async def test_body_breaking_the_contract_is_a_contract_violation(
    ndxp: NdxpClient, gateway: FakeGateway
) -> None:
    broken = {key: value for key, value in CITIZEN.items() if key != "full_name"}
    gateway.script = [ok(broken)]

    with pytest.raises(ContractViolation) as caught:
        await ndxp.population.get_citizen(PID)

    assert caught.value.exchange_id == "ex-1"
    assert caught.value.fields == ("full_name",)  # no gateway header here: pydantic's locs
    assert caught.value.body == broken  # what did arrive, for a caller that goes on
    assert ndxp.last_exchange is not None
    assert ndxp.last_exchange.code == "contract_violation"
    assert not ndxp.last_exchange.ok


async def test_last_exchange_and_events_tell_the_whole_call(
    ndxp: NdxpClient, gateway: FakeGateway, events: list[ClientEvent]
) -> None:
    gateway.script = [problem(504, "upstream_timeout"), ok(remaining=41)]

    await ndxp.population.get_citizen(PID)

    assert kinds(events) == ["token", "request", "response", "retry", "request", "response"]
    last = events[-1]
    assert (last.status, last.exchange_id, last.attempt, last.quota_remaining) == (
        200,
        "ex-2",
        2,
        41,
    )
    assert last.service == "population.get_citizen"
    assert last.method == "GET"
    assert last.path == f"/population/v1/citizens/{PID}"
    assert last.latency_ms is not None
    exchange = ndxp.last_exchange
    assert exchange is not None
    assert exchange.ok
    assert (exchange.status, exchange.exchange_id, exchange.attempts) == (200, "ex-2", 2)
    assert exchange.quota_remaining == 41
    assert exchange.latency_ms >= 0


async def test_last_exchange_records_a_failed_call(ndxp: NdxpClient, gateway: FakeGateway) -> None:
    gateway.script = [problem(400, "invalid_request")]

    with pytest.raises(InvalidRequest):
        await ndxp.population.get_citizen(PID)

    exchange = ndxp.last_exchange
    assert exchange is not None
    assert not exchange.ok
    assert (exchange.status, exchange.code, exchange.exchange_id) == (
        400,
        "invalid_request",
        "ex-1",
    )


# -- quota ----------------------------------------------------------------------------------


async def test_spent_quota_raises_quota_exceeded_with_reset_time(
    ndxp: NdxpClient, gateway: FakeGateway
) -> None:
    gateway.script = [
        problem(
            429,
            "quota_exceeded",
            headers={
                "Retry-After": "3800",
                "RateLimit": '"daily-population.get_citizen";r=0;t=3713',
            },
        )
    ]

    with pytest.raises(QuotaExceeded) as caught:
        await ndxp.population.get_citizen(PID)

    err = caught.value
    assert err.retry_after_s == 3800
    assert err.policy == "daily-population.get_citizen"
    assert err.reset_at is not None
    assert not err.reserve
    assert len(gateway.calls) == 1


async def test_quota_reserve_stops_calls_before_the_quota_is_spent(
    make_client: Callable[..., NdxpClient],
    gateway: FakeGateway,
    clock: FakeClock,
    events: list[ClientEvent],
) -> None:
    gateway.script = [ok(remaining=3), ok(remaining=2), ok(remaining=1, reset_s=600)]

    async with make_client(quota_reserve=2) as ndxp:
        await ndxp.population.get_citizen(PID)  # leaves 3: above the reserve
        await ndxp.population.get_citizen(PID)  # leaves 2: the reserve is reached
        with pytest.raises(QuotaExceeded) as caught:
            await ndxp.population.get_citizen(PID)
        assert len(gateway.calls) == 2  # the third was not sent
        assert caught.value.reserve
        assert caught.value.remaining == 2
        assert caught.value.reset_at is not None
        reserve_event = events[-2]
        assert (reserve_event.kind, reserve_event.quota_remaining) == ("quota_reserve", 2)

        clock.now += 3600  # past the reset: the remembered figure no longer holds
        await ndxp.population.get_citizen(PID)

    assert len(gateway.calls) == 3


async def test_quota_reserve_is_per_service(
    make_client: Callable[..., NdxpClient], gateway: FakeGateway
) -> None:
    gateway.script = [ok(remaining=1), ok({"match": True})]

    async with make_client(quota_reserve=5) as ndxp:
        await ndxp.population.get_citizen(PID)
        result = await ndxp.population.verify_citizen(VERIFY)  # another service's quota
        with pytest.raises(QuotaExceeded):
            await ndxp.population.get_citizen(PID)

    assert result.match
    assert len(gateway.calls) == 2


# -- breaker --------------------------------------------------------------------------------


async def test_breaker_opens_after_consecutive_failures_and_probes_after_reset(
    make_client: Callable[..., NdxpClient],
    gateway: FakeGateway,
    clock: FakeClock,
    events: list[ClientEvent],
) -> None:
    gateway.script = [problem(504, "upstream_timeout")] * 3

    async with make_client(max_attempts=1, breaker_failures=3, breaker_reset_s=30.0) as ndxp:
        for _ in range(3):
            with pytest.raises(UpstreamTimeout):
                await ndxp.population.get_citizen(PID)
        with pytest.raises(CircuitOpen) as caught:
            await ndxp.population.get_citizen(PID)
        assert len(gateway.calls) == 3  # refused without sending
        assert caught.value.provider == "population"

        clock.now += 30.0
        citizen = await ndxp.population.get_citizen(PID)  # the probe

    assert citizen.personal_id == PID
    states = [e.breaker_state for e in events if e.kind == "breaker"]
    assert states == ["open", "half_open", "closed"]


async def test_open_breaker_ends_the_retries(
    make_client: Callable[..., NdxpClient], gateway: FakeGateway, events: list[ClientEvent]
) -> None:
    gateway.script = [problem(502, "upstream_unreachable")] * 10

    async with make_client(max_attempts=5, breaker_failures=2) as ndxp:
        with pytest.raises(CircuitOpen):
            await ndxp.population.get_citizen(PID)

    assert len(gateway.calls) == 2
    assert events[-1].kind == "give_up"
    assert events[-1].code == "circuit_open"


async def test_breaker_is_per_provider(
    make_client: Callable[..., NdxpClient], gateway: FakeGateway
) -> None:
    gateway.script = [problem(504, "upstream_timeout")]

    async with make_client(max_attempts=1, breaker_failures=1) as ndxp:
        with pytest.raises(UpstreamTimeout):
            await ndxp.population.get_citizen(PID)
        assert ndxp.breakers["population"].state == "open"
        gateway.script = [ok({"match": False})]
        with pytest.raises(CircuitOpen):
            await ndxp.population.verify_citizen(VERIFY)
        assert ndxp.breakers["civil-registry"].state == "closed"


async def test_a_4xx_counts_as_the_provider_being_up(
    make_client: Callable[..., NdxpClient], gateway: FakeGateway
) -> None:
    gateway.script = [
        problem(504, "upstream_timeout"),
        problem(404, "not_found", gateway=False),
        problem(504, "upstream_timeout"),
    ]

    async with make_client(max_attempts=1, breaker_failures=2) as ndxp:
        for _ in range(3):
            with pytest.raises(NdxpError):
                await ndxp.population.get_citizen(PID)
        breaker = ndxp.breakers["population"]

    assert (breaker.state, breaker.consecutive_failures) == ("closed", 1)
