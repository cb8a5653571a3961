"""One exchange (*một lượt trao đổi dữ liệu*): a province's call, checked, counted, forwarded.

The order of checks is the order of cost: identity (401), route (404, no open proxy), access
rights (403), body shape (400), daily quota (429) — only then does a request reach a national
database. The body's size and deadline are bounded before any route, by
:class:`gateway.edge.EdgeMiddleware`. Whatever happens, exactly one
:class:`~contracts.exchange.ExchangeRecord` is made and handed to ``Runtime.observers`` (the
exchange log, the metrics, the log line) — requests refused before they reach the proxy too,
through :meth:`Proxy.refuse`.

The provider's response is read whole before the province gets a byte: the contract check
needs the whole body, and a connection that dies mid-body can still be reported as a clean
502 ``upstream_reset`` instead of a truncated 200. Provider errors (4xx, 5xx) are passed on
unchanged and without ``X-NDXP-Error``; errors the gateway makes carry it (see
:mod:`gateway.errors`). Headers follow RFC 9110 §7.6.1 (hop-by-hop fields are not forwarded)
and W3C Trace Context (``traceparent``: the province's trace is continued when it sends one).
"""

from __future__ import annotations

import json

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from contracts.exchange import OUTCOME_OK, OUTCOME_UPSTREAM_REJECTED
from contracts.headers import INJECTED_FAULT_HEADER, VIOLATIONS_HEADER
from gateway.admission import admit
from gateway.auth import authorization
from gateway.errors import (
    Forbidden,
    GatewayError,
    GatewayInternalError,
    InvalidRequest,
    ProviderMaintenance,
)
from gateway.exchange import Exchange, notify
from gateway.problems import problem_response
from gateway.registry import ConsumerSpec, subscribed
from gateway.routing import Route
from gateway.runtime import Runtime

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
    INJECTED_FAULT_HEADER.lower().encode(),
}
_JSON_TYPES = ("application/json", "+json")

_log = structlog.get_logger("ndxp.gateway.exchange")


class Proxy:
    """Runs exchanges against the runtime's registry, stores and upstream."""

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime

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

    def refuse(self, scope: Scope, err: GatewayError) -> Response:
        """Answer and record a request refused before the proxy (server, edge or router)."""
        ex = Exchange(method=scope["method"])
        traceparent = next((v for k, v in scope["headers"] if k == b"traceparent"), None)
        ex.continue_trace(traceparent.decode("latin-1") if traceparent else None)
        response = self._problem(err, ex)
        self._finish(ex, response)
        return response

    async def _exchange(self, request: Request, ex: Exchange) -> Response:
        rt = self.rt
        consumer = ex.consumer = rt.auth.verify(authorization(request.headers))
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        match = rt.router.match(request.method, raw_path.decode("latin-1").partition("?")[0])
        route = ex.route = match.route
        if not subscribed(consumer, route.service):
            raise Forbidden(f"{consumer.id} is not subscribed to {route.service}")
        refused = rt.gate.check(consumer, route)  # a scenario rule at the gateway (FM-07)
        if refused is not None:
            ex.injected_fault, error = refused
            raise error
        body = await _read_body(request)
        ex.request_size = len(body)
        quota = await admit(rt.quotas, consumer, route.service, rt.clock(), rt.rng)
        ex.quota_remaining = quota.remaining
        if quota.refusal is not None:
            raise quota.refusal
        try:
            status, headers, content = await self._forward(
                request, ex, consumer, route, match.upstream_path, body
            )
        except GatewayError as err:
            # Admitted, so counted: a 502/503/504 made after admission tells the quota state
            # like any answer to an admitted request (refusals before it used none).
            err.headers.update(quota.headers)
            raise
        return self._passed_on(ex, route, status, headers, content, quota.headers)

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
        query: bytes = request.scope.get("query_string", b"")
        inflight = rt.metrics.inflight.labels(route.provider)
        inflight.inc()
        try:
            result = await rt.upstream.send(route, route.method, path, query, headers, body)
        finally:
            inflight.dec()
        ex.request_out, ex.response_in = result.request_out, result.response_in
        ex.upstream_s = result.elapsed_s
        ex.injected_fault = result.injected_fault  # kept even when the body broke
        rt.metrics.upstream_duration.labels(route.provider, route.service).observe(ex.upstream_s)
        if result.error is not None:
            raise result.error
        return result.status, result.headers, result.body

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
        response.raw_headers.append((b"x-ndxp-exchange-id", ex.exchange_id.encode()))
        notify(self.rt.observers, ex.to_record(response.status_code, len(response.body)))


async def _read_body(request: Request) -> bytes:
    # The size is bounded by the edge middleware; the shape of a JSON body is checked here.
    body = b"".join([chunk async for chunk in request.stream()])
    if body and request.headers.get("content-type", "").startswith(_JSON_TYPES[0]):
        try:
            json.loads(body)
        except (ValueError, RecursionError):  # nesting deeper than the parser's stack
            raise InvalidRequest("the body is not valid JSON (or nests too deep)") from None
    return body


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
