"""What both hops do to a call on its way to the gateway: trace, faults, forward, log, count.

A hop is a real proxy in front of the NDXP gateway (RFC 9110 §7.6.1: hop-by-hop fields are
not forwarded). The province's ``Authorization`` (its NDXP token) goes on unchanged — the
gateway decides, the hop only carries. The call's W3C trace (``traceparent``) is continued,
or started when the caller sent none, and sent on with a new span id: the gateway continues
it, so the hop's record and the gateway's share one trace id.

Faults: the scenario rules whose ``match.hop`` names this hop (the mocks' fault engine,
:class:`mock_services.faults.FaultEngine`, one per provider, reached through the same
``/_faults`` admin routes as a mock's) apply to calls for the provider's operations, so
"the LGSP's route to the civil registry errors" is a rule, and its failures are recorded
here — never at the gateway, which they do not reach.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import jwt
import structlog
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from contracts.catalogue import OPERATIONS, PROVIDERS, Operation
from contracts.common import PROBLEM_MEDIA_TYPE
from contracts.headers import (
    CONSUMER_HEADER,
    EXCHANGE_ID_HEADER,
    INJECTED_FAULT_HEADER,
    PROVINCE_HEADER,
)
from contracts.hops import (
    OUTCOME_GATEWAY_TIMEOUT,
    OUTCOME_GATEWAY_UNREACHABLE,
    OUTCOME_HOP_ERROR,
    OUTCOME_HOP_FAULT,
    OUTCOME_OK,
    OUTCOME_PASSED_ON,
    HopName,
    HopRecord,
)
from hops.log import HopLog
from hops.metrics import HopMetrics
from mock_services.fault_network import ResetResponse
from mock_services.faults import FaultEngine
from mock_services.scenarios import Scenario
from mock_services.service import OperationContext

_TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
    }
)
_DROP_REQUEST = _HOP_BY_HOP | {"host", "content-length", "accept-encoding", "expect", "traceparent"}
_DROP_RESPONSE = _HOP_BY_HOP | {
    "content-length",
    "content-encoding",
    "date",
    "server",
    INJECTED_FAULT_HEADER.lower(),
}
_log = structlog.get_logger("ndxp.hop")

# Builds the answer of a failure the hop itself makes: (status, code, message) -> response.
Refusal = Callable[[int, str, str], Response]


@dataclass(slots=True)
class Trace:
    """The W3C trace of one call: continued from the caller's ``traceparent`` or new."""

    trace_id: str
    flags: str = "01"

    @classmethod
    def continue_from(cls, traceparent: str | None) -> Trace:
        found = _TRACEPARENT.match(traceparent.strip().lower()) if traceparent else None
        if found and found[1] != "0" * 32 and found[2] != "0" * 16:
            return cls(found[1], found[3])
        return cls(uuid.uuid4().hex)

    def traceparent(self) -> str:
        """This trace, a new span (the hop's), for the next hop."""
        return f"00-{self.trace_id}-{secrets.token_hex(8)}-{self.flags}"


@dataclass(slots=True)
class Carried:
    """What one call gathered at the hop; becomes its :class:`HopRecord`."""

    hop: HopName
    method: str
    path: str
    trace: Trace
    exchange_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    request_in: datetime = field(default_factory=lambda: datetime.now(UTC))
    started: float = field(default_factory=time.perf_counter)
    consumer: str | None = None
    operation: Operation | None = None
    provider: str | None = None
    outcome: str = OUTCOME_OK
    detail: str | None = None
    gateway_exchange_id: str | None = None
    xroad_id: str | None = None

    def record(self, status: int, injected: str | None) -> HopRecord:
        outcome = OUTCOME_HOP_FAULT if injected else self.outcome
        if outcome == OUTCOME_OK:
            origin = "none"
        elif outcome == OUTCOME_PASSED_ON:
            origin = "downstream"
        else:
            origin = "hop"
        return HopRecord(
            exchange_id=self.exchange_id,
            hop=self.hop,
            trace_id=self.trace.trace_id,
            consumer=self.consumer,
            method=self.method,
            path=self.path,
            provider=self.provider,
            operation_id=self.operation.operation_id if self.operation else None,
            status_code=status,
            outcome=outcome,
            origin=origin,
            injected_fault=injected,
            gateway_exchange_id=self.gateway_exchange_id,
            xroad_id=self.xroad_id,
            request_in_ts=self.request_in,
            duration_ms=(time.perf_counter() - self.started) * 1000.0,
            detail=self.detail,
        )


class HopFaults:
    """One fault engine per provider, at one hop; the ``/_faults`` routes' engine."""

    def __init__(self, hop: HopName, time_scale: float) -> None:
        self.hop = hop
        self.engines: dict[str, FaultEngine] = {}
        for provider in PROVIDERS:
            engine = FaultEngine(provider, time_scale=time_scale)
            engine.hop = hop
            self.engines[provider] = engine

    def set_scenario(self, scenario: Scenario | None) -> None:
        for engine in self.engines.values():
            engine.set_scenario(scenario)

    def set_clock(self, at: datetime | None) -> None:
        for engine in self.engines.values():
            engine.set_clock(at)

    def describe(self) -> dict[str, Any]:
        described = [engine.describe() for engine in self.engines.values()]
        first = described[0]
        return {
            "hop": self.hop,
            "scenario": first["scenario"],
            "rules": [rule for one in described for rule in one["rules"]],
            "clock": first["clock"],
            "clock_shifted": first["clock_shifted"],
        }


def operation_at(method: str, gateway_path: str) -> Operation | None:
    """The catalogue operation a gateway path ``/{provider}/v1/...`` names, if any."""
    provider, _, rest = gateway_path.lstrip("/").partition("/")
    segments = ("/" + rest).split("/")
    for op in OPERATIONS:
        if op.provider != provider or op.method != method:
            continue
        template = op.path.split("/")
        if len(template) == len(segments) and all(
            t == s or (t.startswith("{") and s) for t, s in zip(template, segments, strict=True)
        ):
            return op
    return None


def unverified_claims(authorization: str | None) -> dict[str, Any]:
    """The token's claims, read without checking the signature (the gateway checks it).

    The hop only uses them to log who called and to match a rule's ``provinces``.
    """
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return {}
    try:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return {}
    return claims


class Hop:
    """Carries calls to the gateway: faults of this hop first, then the forward."""

    def __init__(
        self,
        name: HopName,
        gateway: httpx.AsyncClient,
        log: HopLog,
        metrics: HopMetrics,
        faults: HopFaults,
    ) -> None:
        self.name = name
        self.gateway = gateway
        self.log = log
        self.metrics = metrics
        self.faults = faults

    async def carry(
        self,
        request: Request,
        call: Carried,
        gateway_path: str,
        refuse: Refusal,
    ) -> Response:
        """Answer one call: this hop's faults, else the gateway's answer passed on."""
        claims = unverified_claims(request.headers.get("authorization"))
        call.consumer = claims.get("sub") if isinstance(claims.get("sub"), str) else None
        _for_the_rules(request, call.consumer, claims.get("province"))
        call.operation = operation_at(request.method, gateway_path)
        call.provider = call.operation.provider if call.operation else None
        body = await request.body()

        async def forward() -> Response:
            return await self._forward(request, call, gateway_path, body, refuse)

        with structlog.contextvars.bound_contextvars(
            hop=self.name, exchange_id=call.exchange_id, trace_id=call.trace.trace_id
        ):
            try:
                if call.operation is None:
                    response = await forward()  # the gateway answers 404 unknown_service
                else:
                    engine = self.faults.engines[call.operation.provider]
                    op = call.operation
                    context = OperationContext(op.provider, op.operation_id, request)
                    response = await engine.intercept(context, forward)
            except Exception:
                # A bug still gets an answer in the hop's own error shape and a record.
                _log.exception("hop_bug")
                call.outcome, call.detail = OUTCOME_HOP_ERROR, "unexpected error in the hop"
                response = refuse(500, "hop_internal_error", f"{self.name} failed; see its log")
            return await self.finish(call, response)

    async def finish(self, call: Carried, response: Response) -> Response:
        """Record the call (one record, whatever happened) and count it."""
        injected = response.headers.get(INJECTED_FAULT_HEADER)
        if injected:
            del response.headers[INJECTED_FAULT_HEADER]
        status = response.status_code
        if isinstance(response, ResetResponse) and response.phase == "before_response":
            status = 502  # the caller got no answer at all; its SDK reports a reset
            call.detail = f"{self.name} dropped the connection (injected)"
        record = call.record(status, injected)
        try:
            await self.log.write(record)
        except Exception:  # the log must never fail the call it describes
            self.metrics.log_errors.labels(self.name).inc()
            _log.exception("hop_log_failed")
        self.metrics.observe(record)
        _log.info(
            "hop_exchange",
            status=record.status_code,
            outcome=record.outcome,
            provider=record.provider,
            gateway_exchange_id=record.gateway_exchange_id,
        )
        return response

    async def _forward(
        self,
        request: Request,
        call: Carried,
        gateway_path: str,
        body: bytes,
        refuse: Refusal,
    ) -> Response:
        headers = [
            (key, value)
            for key, value in request.headers.items()
            if key not in _DROP_REQUEST and not key.startswith("x-ndxp-")
        ]
        headers += [("accept-encoding", "identity"), ("traceparent", call.trace.traceparent())]
        query = request.scope.get("query_string", b"")
        url = gateway_path + ("?" + query.decode("latin-1") if query else "")
        try:
            answer = await self.gateway.request(request.method, url, headers=headers, content=body)
        except httpx.TimeoutException as exc:
            call.outcome, call.detail = OUTCOME_GATEWAY_TIMEOUT, f"NDXP did not answer: {exc!r}"
            return refuse(504, "upstream_timeout", f"{self.name} got no answer from NDXP in time")
        except httpx.TransportError as exc:
            call.outcome, call.detail = OUTCOME_GATEWAY_UNREACHABLE, f"NDXP: {exc!r}"
            return refuse(502, "upstream_unreachable", f"{self.name} could not reach NDXP")
        call.gateway_exchange_id = answer.headers.get(EXCHANGE_ID_HEADER)
        if answer.status_code >= 400:
            call.outcome = OUTCOME_PASSED_ON
            call.detail = f"NDXP answered {answer.status_code}"
        response = Response(content=answer.content, status_code=answer.status_code)
        response.raw_headers.extend(
            (key.encode("latin-1"), value.encode("latin-1"))
            for key, value in answer.headers.multi_items()
            if key.lower() not in _DROP_RESPONSE
        )
        return response


def _for_the_rules(request: Request, consumer: str | None, province: object) -> None:
    """Put who calls where the fault rules look (the gateway does the same for the mocks).

    The caller's own ``X-NDXP-*`` headers are dropped first: a province cannot choose them.
    """
    scope = request.scope
    headers = [(k, v) for k, v in scope["headers"] if not k.lower().startswith(b"x-ndxp-")]
    if consumer:
        headers.append((CONSUMER_HEADER.lower().encode(), consumer.encode()))
    if isinstance(province, str):
        headers.append((PROVINCE_HEADER.lower().encode(), province.encode()))
    scope["headers"] = headers
    request._headers = Headers(scope=scope)  # starlette caches the parsed headers


def problem(status: int, code: str, title: str, detail: str, hop: str) -> Response:
    """An RFC 9457 problem+json the hop itself makes."""
    return JSONResponse(
        {
            "type": "about:blank",
            "title": title,
            "status": status,
            "code": code,
            "detail": detail,
            "hop": hop,
        },
        status_code=status,
        media_type=PROBLEM_MEDIA_TYPE,
    )
