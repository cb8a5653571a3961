"""One exchange (*một lượt trao đổi dữ liệu*): a province's call, checked, counted, forwarded.

The order of checks is the order of cost: identity (401), route (404, no open proxy), access
rights (403), body shape (400), daily quota (429) — only then does a request reach a national
database. The body's size and deadline are bounded before any route, by
:class:`gateway.edge.EdgeMiddleware`. Whatever happens, exactly one
:class:`~contracts.exchange.ExchangeRecord` is made and handed to ``Runtime.observers`` (the
exchange log, the metrics, the log line) — requests refused before they reach the proxy too,
through :meth:`Proxy.refuse`.

The provider's response is read whole before the province gets a byte: the contract check
needs the whole body (on a provider's 400/422, with the request's: see
:meth:`gateway.contract_check.ContractChecker.check_refusal`), and a connection that dies
mid-body can still be reported as a clean 502 ``upstream_reset`` instead of a truncated 200.
Provider errors (4xx, 5xx) are passed on unchanged and without ``X-NDXP-Error``; errors the
gateway makes carry it (see :mod:`gateway.errors`). Headers follow RFC 9110 §7.6.1 (hop-by-hop
fields are not forwarded) and W3C Trace Context (``traceparent``: the province's trace is
continued when it sends one).
"""

from __future__ import annotations

import json

import structlog
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from contracts.exchange import OUTCOME_OK, OUTCOME_UPSTREAM_REJECTED
from contracts.headers import INJECTED_FAULT_HEADER, VIOLATIONS_HEADER
from gateway.admission import admit
from gateway.edge import length_refusal, read_body
from gateway.errors import (
    Forbidden,
    GatewayError,
    GatewayInternalError,
    InvalidRequest,
    ProviderMaintenance,
)
from gateway.exchange import Exchange, notify
from gateway.problems import problem_response
from gateway.protocol import EDGE_ERROR
from gateway.registry import subscribed
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
_JSON = "application/json"
_REFUSALS = frozenset({400, 422})  # answers the request-side contract check looks at
_NO_LENGTH = frozenset({204, 304})  # and 1xx: answers that carry no Content-Length
_REPEATED_AUTHORIZATION = {"WWW-Authenticate": 'Bearer realm="ndxp", error="invalid_request"'}
_EXCHANGE_ID = b"x-ndxp-exchange-id"

_log = structlog.get_logger("ndxp.gateway.exchange")
_bind = structlog.contextvars.bind_contextvars
_reset = structlog.contextvars.reset_contextvars


class _Head:
    """What the exchange needs of the request head, read in one pass over the raw fields."""

    __slots__ = ("authorization", "content_type", "forwarded", "lengths", "traceparent")

    def __init__(self, raw: list[tuple[bytes, bytes]]) -> None:
        forwarded: list[tuple[bytes, bytes]] = []
        authorization: list[bytes] = []
        self.traceparent = self.content_type = None
        self.lengths: list[bytes] = []
        connection: list[bytes] | None = None
        for key, value in raw:
            lower = key.lower()
            if lower in _DROP_REQUEST or lower.startswith(b"x-ndxp-"):
                if lower == b"authorization":
                    authorization.append(value)
                elif lower == b"traceparent":
                    if self.traceparent is None:  # the first one, as Headers.get gives
                        self.traceparent = value
                elif lower == b"content-length":
                    self.lengths.append(value)
                elif lower == b"connection":
                    connection = (connection or []) + [value]
                continue
            if lower == b"content-type" and self.content_type is None:
                self.content_type = value
            forwarded.append((key, value))
        if connection is not None:  # RFC 9110 §7.6.1: fields named in Connection are hop-by-hop
            tokens = _tokens(connection)
            forwarded = [(k, v) for k, v in forwarded if k.lower() not in tokens]
        self.forwarded = forwarded
        self.authorization = authorization

    def bearer(self) -> str | None:
        """The one ``Authorization`` header, or None.

        Raises:
            InvalidRequest: the header is repeated. Which copy would win differs between
                servers and proxies, so neither does (RFC 6750 §3.1: ``invalid_request``, 400).
        """
        values = self.authorization
        if len(values) > 1:
            raise InvalidRequest(
                "send exactly one Authorization header", headers=dict(_REPEATED_AUTHORIZATION)
            )
        return values[0].decode("latin-1") if values else None


class _Answer:
    """The response of one exchange, as the ASGI messages will carry it."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: list[tuple[bytes, bytes]], body: bytes) -> None:
        self.status, self.headers, self.body = status, headers, body


class Proxy:
    """Runs exchanges against the runtime's registry, stores and upstream.

    An ASGI app of its own: :class:`gateway.app.GatewayApp` hands it every request that is
    not for one of the gateway's endpoints, before FastAPI, so no Request/Response objects
    are built on the exchange path. It applies :mod:`gateway.edge`'s bounds itself.
    """

    def __init__(self, runtime: Runtime) -> None:
        self.rt = runtime
        self.max_bytes = runtime.settings.gateway.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one consumer call; never raises."""
        ex = Exchange(method=scope["method"])
        head = _Head(scope["headers"])
        traceparent = head.traceparent
        ex.continue_trace(traceparent.decode("latin-1") if traceparent else None)
        # What the exchange logs carries its ids (structlog's bound_contextvars, minus the
        # context manager).
        bound = _bind(exchange_id=ex.exchange_id, trace_id=ex.trace_id)
        try:
            try:
                answer = await self._exchange(scope, receive, head, ex)
            except GatewayError as err:
                answer = self._problem(err, ex)
            except Exception:
                # Any bug still gets a problem+json answer, a record and a logged traceback.
                _log.exception("gateway_bug")
                bug = GatewayInternalError("unexpected error in the gateway; see its log")
                answer = self._problem(bug, ex)
            self._finish(ex, answer)
        finally:
            _reset(**bound)
        start = {"type": "http.response.start", "status": answer.status, "headers": answer.headers}
        await send(start)
        await send({"type": "http.response.body", "body": answer.body})

    def refuse(self, scope: Scope, err: GatewayError) -> Response:
        """Answer and record a request refused before the proxy (server, edge or router)."""
        ex = Exchange(method=scope["method"])
        traceparent = next((v for k, v in scope["headers"] if k == b"traceparent"), None)
        ex.continue_trace(traceparent.decode("latin-1") if traceparent else None)
        response = problem_response(err, ex.exchange_id)
        ex.outcome, ex.detail = err.code, err.detail
        response.raw_headers.append((_EXCHANGE_ID, ex.exchange_id.encode()))
        notify(self.rt.observers, ex.to_record(response.status_code, len(response.body)))
        return response

    async def _exchange(self, scope: Scope, receive: Receive, head: _Head, ex: Exchange) -> _Answer:
        refusal: GatewayError | None = scope.get(EDGE_ERROR)
        for length in head.lengths:
            refusal = refusal or length_refusal(length, self.max_bytes)
        if refusal is not None:  # what the edge refuses, before any route
            raise refusal
        rt = self.rt
        consumer = ex.consumer = rt.auth.verify(head.bearer())
        raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
        method: str = scope["method"]
        match = rt.router.match(method, raw_path.decode("latin-1").partition("?")[0])
        route = ex.route = match.route
        if not subscribed(consumer, route.service):
            raise Forbidden(f"{consumer.id} is not subscribed to {route.service}")
        refused = rt.gate.check(consumer, route)  # a scenario rule at the gateway (FM-07)
        if refused is not None:
            ex.injected_fault, error = refused
            raise error
        body = await read_body(scope, receive, self.max_bytes)
        if body and head.content_type is not None:
            _check_json(head.content_type, body)
        ex.request_size = len(body)
        quota = await admit(rt.quotas, consumer, route.quota_service, rt.clock(), rt.rng)
        ex.quota_remaining = quota.remaining
        if quota.refusal is not None:
            raise quota.refusal
        headers = head.forwarded
        headers += [
            (b"accept-encoding", b"identity"),
            (b"x-ndxp-consumer", consumer.id.encode()),
            (b"x-ndxp-province", (consumer.province or "").encode()),
            (_EXCHANGE_ID, ex.exchange_id.encode()),
            (b"traceparent", ex.traceparent().encode()),
        ]
        try:
            status, upstream_headers, content = await self._forward(
                scope, ex, route, match.upstream_path, headers, body
            )
        except GatewayError as err:
            # Admitted, so counted: a 502/503/504 made after admission tells the quota state
            # like any answer to an admitted request (refusals before it used none).
            err.headers.update(quota.headers)
            raise
        return self._passed_on(ex, route, status, upstream_headers, content, quota.headers, body)

    async def _forward(
        self,
        scope: Scope,
        ex: Exchange,
        route: Route,
        path: str,
        headers: list[tuple[bytes, bytes]],
        body: bytes,
    ) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
        rt = self.rt
        query: bytes = scope.get("query_string", b"")
        inflight = rt.metrics.inflight_for(route.provider)
        inflight.inc()
        try:
            result = await rt.upstream.send(route, route.method, path, query, headers, body)
        finally:
            inflight.dec()
        ex.request_out, ex.response_in = result.request_out, result.response_in
        ex.upstream_s = result.elapsed_s
        ex.injected_fault = result.injected_fault  # kept even when the body broke
        rt.metrics.observe_upstream(route.provider, route.service, ex.upstream_s)
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
        request_body: bytes,
    ) -> _Answer:
        headers: list[tuple[bytes, bytes]] = []
        if status >= 200 and status not in _NO_LENGTH:
            headers.append((b"content-length", str(len(content)).encode()))
        connection_tokens: frozenset[bytes] | None = None
        for key, value in upstream_headers:
            lower = key.lower()
            if lower in _DROP_RESPONSE:
                if lower == b"connection":  # RFC 9110 §7.6.1: what it names is hop-by-hop too
                    connection_tokens = _connection_tokens(upstream_headers)
                continue
            headers.append((lower, value))
        if connection_tokens:
            headers = [(k, v) for k, v in headers if k not in connection_tokens]
        if 200 <= status < 300 and status != 204:
            ex.violations = self.rt.contracts.check(route.response_model, content)
        elif status in _REFUSALS:  # a contract-valid request refused: drift on the request side
            ex.violations = self.rt.contracts.check_refusal(
                route.request_model, request_body, content
            )
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
        return _Answer(status, headers, content)

    def _problem(self, err: GatewayError, ex: Exchange) -> _Answer:
        ex.outcome = err.code
        ex.detail = err.detail
        response = problem_response(err, ex.exchange_id)
        return _Answer(response.status_code, response.raw_headers, bytes(response.body))

    def _finish(self, ex: Exchange, answer: _Answer) -> None:
        answer.headers.append((_EXCHANGE_ID, ex.exchange_id.encode()))
        notify(self.rt.observers, ex.to_record(answer.status, len(answer.body)))


def _check_json(content_type: bytes, body: bytes) -> None:
    # The size is bounded by the edge; the shape of a JSON body is checked here.
    if content_type.startswith(b"application/json"):
        try:
            json.loads(body)
        except (ValueError, RecursionError):  # nesting deeper than the parser's stack
            raise InvalidRequest("the body is not valid JSON (or nests too deep)") from None


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


def _connection_tokens(headers: list[tuple[bytes, bytes]]) -> frozenset[bytes]:
    # RFC 9110 §7.6.1: fields named in Connection are hop-by-hop too.
    return _tokens([value for key, value in headers if key.lower() == b"connection"])


def _tokens(values: list[bytes]) -> frozenset[bytes]:
    return frozenset(token.strip().lower() for value in values for token in value.split(b","))
