"""``NdxpClient`` — the provincial side's SDK for the NDXP gateway (async, on httpx).

::

    async with NdxpClient(gateway_url, "onestop-thanh-hoa", "dev-secret-thanh-hoa") as ndxp:
        citizen = await ndxp.population.get_citizen("038090001234")

What one call does, in order:

1. **Reserve** — with ``quota_reserve=N``, a call whose service has ``N`` or fewer requests
   left today (from the last ``RateLimit`` header seen) is not sent:
   :class:`~connectors.errors.QuotaExceeded` with ``reserve=True``.
2. **Breaker** — the provider's :class:`~connectors.breaker.CircuitBreaker` may refuse it
   (:class:`~connectors.errors.CircuitOpen`).
3. **Token** — a cached client-credentials token, fetched again ``refresh_margin_s`` before it
   expires; a 401 on a call fetches a fresh one and sends once more.
4. **Send** with an explicit timeout (the client's, or the call's ``timeout=``).
5. **Retry** (tenacity) only on retryable outcomes — upstream timeout, unreachable, reset,
   overloaded/503, maintenance, or a failed connect to the gateway — with full-jitter
   exponential backoff, or the answer's ``Retry-After`` when it gives one (a longer wait than
   ``retry_after_cap_s`` is not waited for). Never on a 4xx; a POST only when it carries an
   ``Idempotency-Key``.

Every step is told to ``on_event`` as a :class:`~connectors.events.ClientEvent`; after each
call :attr:`NdxpClient.last_exchange` sums it up. Policies are frozen values
(:class:`RetryPolicy`, :class:`~connectors.breaker.BreakerPolicy`); the clock and the sleep are
injected, so tests move time instead of waiting.
"""

# ruff: noqa: ASYNC109 -- ``timeout=`` is httpx's per-phase Timeout (connect, read, write,
# pool) passed through to the request, as httpx's own API does; asyncio.timeout cannot say that.

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from connectors.breaker import BreakerPolicy, CircuitBreaker
from connectors.errors import (
    ContractViolation,
    NdxpError,
    QuotaExceeded,
    error_from_response,
    map_transport_errors,
)
from connectors.events import BreakerState, ClientEvent, EventHook, EventKind, Exchange
from connectors.operations import (
    BusinessRegistry,
    CivilRegistry,
    DriverLicence,
    JudicialRecords,
    Population,
    TimeoutTypes,
)
from connectors.ratelimit import QuotaTracker
from connectors.retry import RetryPolicy, WaitRetryAfterOrBackoff
from connectors.tokens import TokenCache
from contracts.catalogue import PROVIDERS, Operation
from contracts.headers import EXCHANGE_ID_HEADER, VIOLATIONS_HEADER
from contracts.xroad import CLIENT_HEADER as XROAD_CLIENT_HEADER
from contracts.xroad import pr_rest_path

M = TypeVar("M", bound=BaseModel)
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass
class _Call:
    """What one SDK call has gathered over its attempts (becomes :class:`Exchange`)."""

    op: Operation
    path: str
    query: Mapping[str, Any] | None
    content: bytes | None
    headers: dict[str, str]
    timeout: httpx.Timeout
    idempotent: bool
    started: float
    attempts: int = 0
    refreshed: bool = False
    status: int | None = None
    code: str | None = None
    exchange_ids: list[str] = field(default_factory=list)
    quota_remaining: int | None = None


class NdxpClient:
    """An async client of the NDXP gateway for one consumer (a province's one-stop system).

    One namespace per national database — :attr:`population`, :attr:`business_registry`,
    :attr:`driver_licence`, :attr:`civil_registry`, :attr:`judicial_records` — with one method
    per contract operation.
    Use it as an async context manager, or call :meth:`aclose` when done.
    """

    def __init__(
        self,
        base_url: str,
        client_id: str,
        client_secret: str,
        *,
        timeout: TimeoutTypes = 40.0,
        max_attempts: int = 4,
        quota_reserve: int = 0,
        on_event: EventHook | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        breaker_failures: int = 5,
        breaker_reset_s: float = 30.0,
        refresh_margin_s: float = 30.0,
        retry: RetryPolicy | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        xroad_client: str | None = None,
        xroad_instance: str = "VN",
    ) -> None:
        if quota_reserve < 0:
            raise ValueError("quota_reserve must be >= 0")
        self.client_id = client_id
        self.timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self.retry = retry or RetryPolicy(max_attempts=max_attempts)
        self.quota_reserve = quota_reserve
        self.refresh_margin_s = refresh_margin_s
        self._on_event = on_event
        # VDXP's route (connectors.routes): PR-REST paths and the caller's X-Road-Client.
        self.xroad_client, self.xroad_instance = xroad_client, xroad_instance
        self._clock = clock
        self._sleep = sleep
        self._http = httpx.AsyncClient(base_url=base_url, transport=transport, timeout=self.timeout)
        self._tokens = TokenCache(
            self._http,
            client_id,
            client_secret,
            refresh_margin_s=refresh_margin_s,
            clock=clock,
            on_fetch=lambda status, detail: self._emit("token", status=status, detail=detail),
        )
        self._quotas = QuotaTracker(clock)
        policy = BreakerPolicy(failures=breaker_failures, reset_s=breaker_reset_s)
        self.breakers: dict[str, CircuitBreaker] = {
            provider: CircuitBreaker(
                provider, policy, clock=clock, on_change=self._breaker_hook(provider)
            )
            for provider in PROVIDERS
        }
        self.last_exchange: Exchange | None = None
        self.population = Population(self)
        self.business_registry = BusinessRegistry(self)
        self.driver_licence = DriverLicence(self)
        self.civil_registry = CivilRegistry(self)
        self.judicial_records = JudicialRecords(self)

    async def __aenter__(self) -> NdxpClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- events -------------------------------------------------------------------------------

    def _emit(self, kind: EventKind, call: _Call | None = None, **fields: Any) -> None:
        if self._on_event is None:
            return
        if call is not None:
            fields = {
                "provider": call.op.provider,
                "service": call.op.service,
                "method": call.op.method,
                "path": call.path,
                **fields,
            }
        self._on_event(ClientEvent(kind=kind, **fields))

    def _breaker_hook(self, provider: str) -> Callable[[BreakerState, BreakerState], None]:
        def changed(old: BreakerState, new: BreakerState) -> None:
            self._emit("breaker", provider=provider, breaker_state=new, detail=f"{old} -> {new}")

        return changed

    # -- calls --------------------------------------------------------------------------------

    async def call(
        self,
        op: Operation,
        model: type[M],
        path_params: Mapping[str, str] | None = None,
        *,
        query: Mapping[str, Any] | None = None,
        body: BaseModel | None = None,
        idempotency_key: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> M:
        """Run ``op`` and parse its 2xx body as ``model``; the namespaces' one entry point."""
        response = await self._run(op, path_params, query, body, idempotency_key, timeout)
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            if self.last_exchange is not None:
                self.last_exchange = replace(self.last_exchange, code=ContractViolation.code)
            named = response.headers.get(VIOLATIONS_HEADER) or ""
            fields = tuple(f.strip() for f in named.split(",") if f.strip()) or tuple(
                ".".join(str(part) for part in error["loc"]) for error in exc.errors()
            )
            try:
                body = json.loads(response.content)
            except ValueError:
                body = None
            raise ContractViolation(
                f"{op.service} answered a body that breaks {model.__name__}: {', '.join(fields)}",
                status=response.status_code,
                exchange_id=response.headers.get(EXCHANGE_ID_HEADER),
                body=body,
                fields=fields,
            ) from exc

    async def call_bytes(
        self,
        op: Operation,
        path_params: Mapping[str, str] | None = None,
        *,
        timeout: TimeoutTypes | None = None,
    ) -> bytes:
        """Run ``op`` (a file download) and return its body."""
        response = await self._run(op, path_params, None, None, None, timeout)
        return response.content

    def _path(self, op: Operation, path: str) -> str:
        """The gateway's ``/{provider}/v1/...``, or its PR-REST form on VDXP's route."""
        if self.xroad_client is None:
            return f"/{op.provider}{path}"
        return pr_rest_path(self.xroad_instance, op.provider, path)

    async def _run(
        self,
        op: Operation,
        path_params: Mapping[str, str] | None,
        query: Mapping[str, Any] | None,
        body: BaseModel | None,
        idempotency_key: str | None,
        timeout: TimeoutTypes | None,
    ) -> httpx.Response:
        params = {key: quote(str(value), safe="") for key, value in (path_params or {}).items()}
        headers = {"Accept": "application/json"}
        if self.xroad_client is not None:
            headers[XROAD_CLIENT_HEADER] = self.xroad_client
        if body is not None:
            headers["Content-Type"] = "application/json"
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        if timeout is None:
            timeout = self.timeout
        call = _Call(
            op=op,
            path=self._path(op, op.path.format(**params)),
            query=query,
            content=body.model_dump_json(exclude_none=True).encode() if body else None,
            headers=headers,
            timeout=timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout),
            idempotent=op.method == "GET" or idempotency_key is not None,
            started=self._clock(),
        )
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.retry.max_attempts),
            wait=WaitRetryAfterOrBackoff(self.retry),
            retry=retry_if_exception(lambda exc: call.idempotent and self.retry.allows(exc)),
            before_sleep=lambda state: self._before_sleep(call, state),
            sleep=self._sleep,
            reraise=True,
        )
        try:
            response: httpx.Response = await retrying(self._attempt, call)
        except NdxpError as err:
            call.status, call.code = err.status, err.code
            self._emit(
                "give_up",
                call,
                status=err.status,
                code=err.code,
                exchange_id=err.exchange_id,
                attempt=call.attempts,
                detail=self._why_given_up(call, err),
            )
            self._finish(call)
            raise
        self._finish(call)
        return response

    def _why_given_up(self, call: _Call, err: NdxpError) -> str:
        if not err.retryable:
            return f"{err.code} is not retryable"
        if not call.idempotent:
            return f"{call.op.method} without an {IDEMPOTENCY_HEADER} is never retried"
        if not self.retry.allows(err):
            cap = self.retry.retry_after_cap_s
            return f"Retry-After {err.retry_after_s:.0f} s is over the {cap:.0f} s cap"
        return f"{call.attempts} attempts failed"

    def _before_sleep(self, call: _Call, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else None
        self._emit(
            "retry",
            call,
            status=exc.status if isinstance(exc, NdxpError) else None,
            code=exc.code if isinstance(exc, NdxpError) else None,
            exchange_id=exc.exchange_id if isinstance(exc, NdxpError) else None,
            attempt=call.attempts,
            delay_s=delay,
            detail="Retry-After" if isinstance(exc, NdxpError) and exc.retry_after_s else "backoff",
        )

    def _finish(self, call: _Call) -> None:
        self.last_exchange = Exchange(
            provider=call.op.provider,
            service=call.op.service,
            method=call.op.method,
            path=call.path,
            status=call.status,
            code=call.code,
            exchange_id=call.exchange_ids[-1] if call.exchange_ids else None,
            exchange_ids=tuple(call.exchange_ids),
            latency_ms=(self._clock() - call.started) * 1000.0,
            attempts=call.attempts,
            quota_remaining=call.quota_remaining,
        )

    def _check_reserve(self, call: _Call) -> None:
        if self.quota_reserve <= 0:
            return
        known = self._quotas.remaining(call.op.service)
        if known is None or known[1] > self.quota_reserve:
            return
        policy, remaining, reset_in = known
        self._emit(
            "quota_reserve",
            call,
            quota_remaining=remaining,
            detail=f"{policy}: {remaining} left, reserve {self.quota_reserve}",
        )
        raise QuotaExceeded(
            f"{remaining} requests of {policy} left today; keeping a reserve of "
            f"{self.quota_reserve}, so the call was not sent",
            reserve=True,
            policy=policy,
            remaining=remaining,
            reset_at=None if reset_in is None else datetime.now(UTC) + timedelta(seconds=reset_in),
        )

    async def _attempt(self, call: _Call) -> httpx.Response:
        """One attempt: reserve, breaker, token, send (again once after a 401), classify."""
        call.attempts += 1
        self._check_reserve(call)
        breaker = self.breakers[call.op.provider]
        breaker.before_call()
        verdict: Literal["success", "failure", None] = None
        try:
            token = await self._tokens.get()
            response, err = await self._send(call, token)
            if response.status_code == 401 and not call.refreshed:
                call.refreshed = True
                response, err = await self._send(call, await self._tokens.get(stale=token))
            if err is None:
                verdict = "success"
                return response
            verdict = "failure" if err.retryable else "success"
            raise err
        except NdxpError as err:
            if verdict is None and err.retryable:
                verdict = "failure"  # the gateway could not be reached
            raise
        finally:
            if verdict == "success":
                breaker.record_success()
            elif verdict == "failure":
                breaker.record_failure()
            else:
                breaker.abandon()

    async def _send(self, call: _Call, token: str) -> tuple[httpx.Response, NdxpError | None]:
        """Send once; the answer, and the error it stands for (None for a 2xx)."""
        self._emit("request", call, attempt=call.attempts)
        sent = self._clock()
        with map_transport_errors():
            response = await self._http.request(
                call.op.method,
                call.path,
                params=call.query,
                content=call.content,
                headers={**call.headers, "Authorization": f"Bearer {token}"},
                timeout=call.timeout,
            )
        latency_ms = (self._clock() - sent) * 1000.0
        exchange_id = response.headers.get(EXCHANGE_ID_HEADER)
        if exchange_id:
            call.exchange_ids.append(exchange_id)
        tightest = self._quotas.observe(response.headers.get("RateLimit"))
        call.status = response.status_code
        call.quota_remaining = tightest.remaining if tightest else None
        err = None if response.is_success else error_from_response(response, now=datetime.now(UTC))
        call.code = None if err is None else err.code
        self._emit(
            "response",
            call,
            status=response.status_code,
            code=call.code,
            latency_ms=latency_ms,
            exchange_id=exchange_id,
            attempt=call.attempts,
            quota_remaining=call.quota_remaining,
        )
        return response, err
