"""One exchange (*một lượt trao đổi dữ liệu*): a province's call, checked, counted, forwarded.

The order of checks is the order of cost: identity (401), route (404, no open proxy), access
rights (403), body size and shape (413, 400), daily quota (429) — only then does a request
reach a national database. Whatever happens, exactly one :class:`ExchangeRecord` is submitted,
one metric sample set is counted and one log line is written.

The provider's response is read whole before the province gets a byte: the contract check
needs the whole body, and a connection that dies mid-body can still be reported as a clean
502 ``upstream_reset`` instead of a truncated 200. Provider errors (4xx, 5xx) are passed on
unchanged and without ``X-NDXP-Error``; errors the gateway makes carry it (see
:mod:`gateway.errors`). Headers follow RFC 9110 §7.6.1 (hop-by-hop fields are not forwarded)
and W3C Trace Context (``traceparent``: the province's trace is continued when it sends one).
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from starlette.requests import Request
from starlette.responses import Response

from contracts.exchange import (
    OUTCOME_OK,
    OUTCOME_UPSTREAM_REJECTED,
    ExchangeRecord,
    parse_injected_faults,
)
from gateway.contract_check import VIOLATIONS_HEADER
from gateway.errors import (
    Forbidden,
    GatewayError,
    GatewayInternalError,
    InvalidRequest,
    PayloadTooLarge,
    ProviderMaintenance,
    QuotaExceeded,
)
from gateway.exchange_log import mask_personal_ids
from gateway.problems import problem_response
from gateway.quota_rules import limited, rules_for, tightest_remaining
from gateway.quotas import local_day, ratelimit_headers, retry_after_seconds
from gateway.registry import ConsumerSpec, subscribed
from gateway.routing import Route
from gateway.runtime import Runtime
from gateway.transport import HeadReceived
from gateway.upstream import map_httpx_errors

EXCHANGE_ID_HEADER = "X-NDXP-Exchange-Id"
INJECTED_FAULT_HEADER = "x-ndxp-injected-fault"
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
    }
)
# Not for the provider: the province's token and cookies, framing httpx redoes, and our own
# headers, which a province must not be able to spoof.
_DROP_REQUEST = _HOP_BY_HOP | {
    b"host",
    b"content-length",
    b"authorization",
    b"cookie",
    b"accept-encoding",
    b"expect",
    b"traceparent",
}
# Not for the province: framing we redo (the body is decoded), uvicorn's own date/server,
# and gateway-owned headers a provider must not be able to forge.
_DROP_RESPONSE = _HOP_BY_HOP | {
    b"content-length",
    b"content-encoding",
    b"date",
    b"server",
    b"x-ndxp-error",
    b"x-ndxp-exchange-id",
    INJECTED_FAULT_HEADER.encode(),
}
_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_JSON_TYPES = ("application/json", "+json")

_log = structlog.get_logger("ndxp.gateway.exchange")


@dataclass(slots=True)
class Exchange:
    """What one exchange has gathered so far; becomes the :class:`ExchangeRecord`."""

    method: str
    exchange_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    trace_id: str = ""
    trace_flags: str = "01"
    request_in: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)
    consumer: ConsumerSpec | None = None
    route: Route | None = None
    request_size: int = 0
    request_out: datetime | None = None
    response_in: datetime | None = None
    upstream_s: float | None = None
    outcome: str = OUTCOME_OK
    detail: str | None = None
    injected_fault: str | None = None
    violations: list[str] = field(default_factory=list)
    quota_remaining: int | None = None

    def continue_trace(self, traceparent: str | None) -> None:
        """Join the province's W3C trace if it sent a valid ``traceparent``; else start one."""
        found = _TRACEPARENT.match(traceparent) if traceparent else None
        if found and found[1] != "0" * 32 and found[2] != "0" * 16:
            self.trace_id, self.trace_flags = found[1], found[3]
        else:
            self.trace_id = uuid.uuid4().hex

    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{secrets.token_hex(8)}-{self.trace_flags}"


class Proxy:
    """Runs exchanges against the runtime's registry, stores and clients."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.max_body = runtime.settings.gateway.max_request_bytes

    async def handle(self, request: Request) -> Response:
        """Answer one consumer call; never raises."""
        ex = Exchange(method=request.method)
        ex.continue_trace(request.headers.get("traceparent"))
        with structlog.contextvars.bound_contextvars(
            exchange_id=ex.exchange_id, trace_id=ex.trace_id
        ):
            try:
                response = await self._exchange(request, ex)
            except GatewayError as err:
                response = self._problem(err, ex)
            except Exception:
                # Any bug still gets a problem+json answer, a record and a logged traceback.
                _log.exception("gateway_bug")
                bug = GatewayInternalError("unexpected error in the gateway; see its log")
                response = self._problem(bug, ex)
            self._finish(ex, response)
        return response

    async def _exchange(self, request: Request, ex: Exchange) -> Response:
        rt = self.rt
        consumer = ex.consumer = rt.auth.verify(request.headers.get("authorization"))
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        match = rt.router.match(request.method, raw_path.decode("latin-1").partition("?")[0])
        route = ex.route = match.route
        if not subscribed(consumer, route.service):
            raise Forbidden(f"{consumer.id} is not subscribed to {route.service}")
        body = await self._read_body(request)
        ex.request_size = len(body)

        now = datetime.now(UTC)
        decision = await rt.quotas.acquire(rules_for(consumer, route.service), local_day(now))
        shown = limited(decision)
        ex.quota_remaining = tightest_remaining(decision.states)
        quota_headers = ratelimit_headers(shown, now)
        if not decision.admitted:
            rt.metrics.quota_rejections.labels(consumer.id, route.service).inc()
            raise QuotaExceeded(
                f"{consumer.id} has used its daily quota ({', '.join(decision.violated)}); "
                "it resets at local midnight (Asia/Ho_Chi_Minh)",
                headers={
                    "Retry-After": str(retry_after_seconds(now, rt.rng)),
                    **quota_headers,
                },
                extensions={"violated-policies": list(decision.violated)},
            )

        upstream_status, upstream_headers, content = await self._forward(
            request, ex, consumer, route, match.upstream_path, body
        )
        return self._passed_on(ex, route, upstream_status, upstream_headers, content, quota_headers)

    async def _read_body(self, request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None:
            if not declared.isdigit():
                raise InvalidRequest("Content-Length is not a number")
            if int(declared) > self.max_body:
                raise PayloadTooLarge(f"the body exceeds {self.max_body} bytes")
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self.max_body:
                raise PayloadTooLarge(f"the body exceeds {self.max_body} bytes")
            chunks.append(chunk)
        body = b"".join(chunks)
        content_type = request.headers.get("content-type", "")
        if body and content_type.startswith(_JSON_TYPES[0]):
            try:
                json.loads(body)
            except ValueError:
                raise InvalidRequest("the body is not valid JSON") from None
        return body

    async def _forward(
        self,
        request: Request,
        ex: Exchange,
        consumer: ConsumerSpec,
        route: Route,
        path: str,
        body: bytes,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        rt = self.rt
        raw = request.headers.raw
        drop = _DROP_REQUEST | _connection_tokens(raw)
        headers = [(k, v) for k, v in raw if not _dropped(k, drop)]
        headers += [
            (b"accept-encoding", b"identity"),
            (b"x-ndxp-consumer", consumer.id.encode()),
            (b"x-ndxp-province", (consumer.province or "").encode()),
            (b"x-ndxp-exchange-id", ex.exchange_id.encode()),
            (b"traceparent", ex.traceparent().encode()),
        ]
        query = request.scope.get("query_string", b"")
        url = path + ("?" + query.decode("latin-1") if query else "")
        client = rt.clients[route.provider]
        upstream_request = client.build_request(
            route.method,
            url,
            headers=headers,
            content=body or None,
            timeout=rt.timeouts[route.service],
        )
        inflight = rt.metrics.inflight.labels(route.provider)
        inflight.inc()
        ex.request_out = datetime.now(UTC)
        started = time.perf_counter()
        try:
            with map_httpx_errors(route.provider, route.timeouts.total_s):
                try:
                    async with asyncio.timeout(route.timeouts.total_s):
                        upstream = await client.send(upstream_request, stream=True)
                        ex.response_in = datetime.now(UTC)
                        ex.injected_fault = upstream.headers.get(INJECTED_FAULT_HEADER)
                        try:
                            content = await upstream.aread()
                        finally:
                            await upstream.aclose()
                except HeadReceived as exc:  # the body broke after the head: keep its word
                    ex.injected_fault = exc.response_headers.get(INJECTED_FAULT_HEADER)
                    raise
        finally:
            ex.upstream_s = time.perf_counter() - started
            inflight.dec()
            rt.metrics.upstream_duration.labels(route.provider, route.service).observe(
                ex.upstream_s
            )
        return upstream.status_code, upstream.headers.raw, content

    def _passed_on(
        self,
        ex: Exchange,
        route: Route,
        status: int,
        upstream_headers: list[tuple[bytes, bytes]],
        content: bytes,
        quota_headers: dict[str, str],
    ) -> Response:
        headers: list[tuple[bytes, bytes]] = []
        connection_tokens = _connection_tokens(upstream_headers)
        for key, value in upstream_headers:
            lower = key.lower()
            if lower not in _DROP_RESPONSE and lower not in connection_tokens:
                headers.append((lower, value))
        if 200 <= status < 300 and status != 204:
            ex.violations = self.rt.contracts.check(route.response_model, content)
        if ex.violations:
            headers.append((VIOLATIONS_HEADER.lower().encode(), ", ".join(ex.violations).encode()))
            for path in ex.violations:
                self.rt.metrics.contract_violations.labels(
                    route.provider, route.service, path
                ).inc()
        if status < 400:
            ex.outcome = OUTCOME_OK
        else:
            ex.outcome = classify_provider_error(status, content)
            ex.detail = f"{route.provider} answered {status}"
            if ex.outcome != OUTCOME_UPSTREAM_REJECTED:
                ex.detail += f" ({_problem_code(content) or 'no problem code'})"
        headers += [(k.lower().encode(), v.encode()) for k, v in quota_headers.items()]
        response = Response(content=content, status_code=status)
        response.raw_headers.extend(headers)
        return response

    def _problem(self, err: GatewayError, ex: Exchange) -> Response:
        ex.outcome = err.code
        ex.detail = err.detail
        return problem_response(err, ex.exchange_id)

    def _finish(self, ex: Exchange, response: Response) -> None:
        rt = self.rt
        response.raw_headers.append((b"x-ndxp-exchange-id", ex.exchange_id.encode()))
        duration_s = time.perf_counter() - ex.started
        consumer = ex.consumer.id if ex.consumer else None
        route = ex.route
        provider = route.provider if route else None
        service = route.service if route else None
        succeeded = ex.outcome == OUTCOME_OK
        detail = mask_personal_ids(ex.detail) if ex.detail else None
        record = ExchangeRecord(
            exchange_id=ex.exchange_id,
            trace_id=ex.trace_id,
            consumer=consumer,
            provider=provider,
            service=service,
            method=ex.method,
            path_template=route.path_template if route else None,
            status_code=response.status_code,
            outcome=ex.outcome,
            succeeded=succeeded,
            fault_code=None if succeeded else ex.outcome,
            injected_fault=ex.injected_fault,
            request_in_ts=ex.request_in,
            request_out_ts=ex.request_out,
            response_in_ts=ex.response_in,
            response_out_ts=datetime.now(UTC),
            duration_ms=duration_s * 1000.0,
            upstream_ms=None if ex.upstream_s is None else ex.upstream_s * 1000.0,
            request_size=ex.request_size,
            response_size=len(response.body),
            quota_remaining=ex.quota_remaining,
            contract_violations=ex.violations,
            detail=detail,
        )
        rt.log.submit(record)
        metrics = rt.metrics
        metrics.count_log_dropped(rt.log.dropped)
        metrics.exchanges.labels(consumer or "-", provider or "-", service or "-", ex.outcome).inc()
        metrics.exchange_duration.labels(provider or "-", service or "-").observe(duration_s)
        for kind, rule in parse_injected_faults(ex.injected_fault):
            metrics.injected_faults.labels(provider or "-", service or "-", kind, rule).inc()
        level = "info" if succeeded or ex.outcome == OUTCOME_UPSTREAM_REJECTED else "warning"
        if ex.outcome == GatewayInternalError.code:
            level = "error"
        _log.log(
            _LEVELS[level],
            "exchange",
            consumer=consumer,
            province=ex.consumer.province if ex.consumer else None,
            provider=provider,
            service=service,
            method=ex.method,
            path_template=record.path_template,
            status_code=record.status_code,
            outcome=ex.outcome,
            duration_ms=round(record.duration_ms, 3),
            upstream_ms=None if record.upstream_ms is None else round(record.upstream_ms, 3),
            quota_remaining=ex.quota_remaining,
            contract_violations=ex.violations or None,
            injected_fault=ex.injected_fault,
            detail=detail,
        )


_LEVELS = {"info": 20, "warning": 30, "error": 40}


def classify_provider_error(status: int, content: bytes) -> str:
    """Outcome of a provider error passed on unchanged (see ``PASSED_THROUGH_OUTCOMES``).

    A 503 is maintenance when the provider's problem ``code`` says so (the province planned
    for it: FM-11), otherwise overload; any other 5xx is ``upstream_error``, a 4xx
    ``upstream_rejected``.
    """
    if status == 503:
        if _problem_code(content) == ProviderMaintenance.code:
            return ProviderMaintenance.code
        return "upstream_overloaded"
    if status >= 500:
        return "upstream_error"
    return OUTCOME_UPSTREAM_REJECTED


def _problem_code(content: bytes) -> str | None:
    """The ``code`` member of a problem+json body, if the body is one."""
    try:
        body = json.loads(content)
    except ValueError:
        return None
    code = body.get("code") if isinstance(body, dict) else None
    return code if isinstance(code, str) else None


def _dropped(key: bytes, drop: frozenset[bytes]) -> bool:
    lower = key.lower()
    return lower in drop or lower.startswith(b"x-ndxp-")


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    # RFC 9110 §7.6.1: fields named in Connection are hop-by-hop too.
    tokens = [
        token.strip().lower()
        for key, value in headers
        if key.lower() == b"connection"
        for token in value.split(b",")
    ]
    return frozenset(tokens)
