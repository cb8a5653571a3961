"""Every error the SDK raises — one hierarchy, split by where the failure happened.

::

    NdxpError                              (code, status, detail, exchange_id, retryable)
    ├── ClientError                        the request was refused (4xx): never retried
    │   ├── InvalidRequest                 400/422 invalid_request, citizen_mismatch, ...
    │   ├── Unauthenticated                401 unauthenticated (after one fresh-token retry)
    │   ├── Forbidden                      403 forbidden: not subscribed to the service
    │   ├── NotFound                       404 not_found: the national database has no record
    │   ├── UnknownService                 404 unknown_service: no such operation at NDXP
    │   ├── Conflict                       409 dossier_code_conflict
    │   ├── PayloadTooLarge                413 payload_too_large
    │   ├── QuotaExceeded                  429 quota_exceeded (reset_at, retry_after_s), or
    │   │                                      refused locally to keep the reserve (reserve=True)
    │   └── ProviderRejected               another 4xx a national database answered
    ├── UpstreamError                      the national database failed (5xx)
    │   ├── UpstreamTimeout                504 upstream_timeout         retryable
    │   ├── UpstreamUnreachable            502 upstream_unreachable     retryable
    │   ├── UpstreamReset                  502 upstream_reset           retryable (idempotent)
    │   ├── UpstreamOverloaded             503 upstream_overloaded      retryable (Retry-After)
    │   ├── ProviderMaintenance            503 provider_maintenance     retryable (Retry-After)
    │   └── UpstreamFailure                5xx upstream_error / provider_error
    ├── GatewayFailure                     500 gateway_error: a bug in NDXP itself
    ├── ContractViolation                  a 2xx body that breaks the published contract
    ├── CircuitOpen                        not sent: the provider's breaker is open
    └── TransportError                     the SDK could not talk to the gateway
        └── GatewayUnreachable             connect failed: nothing was sent, retryable

Codes are the gateway's stable snake_case ones (``error.code`` is the code on the wire, which
may be more specific than the class's, e.g. ``citizen_mismatch`` on an :class:`InvalidRequest`).
A response becomes an error at exactly one boundary, :func:`error_from_response`; an httpx
exception becomes one at exactly one other, :func:`map_transport_errors`. A gateway-made error
carries ``X-NDXP-Error`` (``from_gateway`` is True); a national database's own error is passed
on without it, with its code in the problem+json body.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar

import httpx

from connectors.ratelimit import parse_ratelimit
from contracts.headers import ERROR_HEADER, EXCHANGE_ID_HEADER


class NdxpError(Exception):
    """Root of the hierarchy; subclasses set the default ``code`` and ``retryable``."""

    code: str = "ndxp_error"
    retryable: ClassVar[bool] = False

    def __init__(
        self,
        detail: str | None = None,
        *,
        code: str | None = None,
        status: int | None = None,
        exchange_id: str | None = None,
        from_gateway: bool = False,
        retry_after_s: float | None = None,
        problem: dict[str, Any] | None = None,
    ) -> None:
        self.code = code or type(self).code
        self.status = status
        self.detail = detail
        self.exchange_id = exchange_id
        self.from_gateway = from_gateway
        self.retry_after_s = retry_after_s
        self.problem = problem
        where = f" [{status}]" if status is not None else ""
        super().__init__(f"{self.code}{where}: {detail or type(self).__doc__ or ''}".strip())


class ClientError(NdxpError):
    """The request was refused; sending it again unchanged gives the same answer."""

    code = "client_error"


class InvalidRequest(ClientError):
    """The request breaks the contract (400, or 422 from a national database)."""

    code = "invalid_request"


class Unauthenticated(ClientError):
    """Wrong client credentials, or a token refused even right after a fresh one."""

    code = "unauthenticated"


class Forbidden(ClientError):
    """The consumer does not subscribe to this service."""

    code = "forbidden"


class NotFound(ClientError):
    """The national database has no such record (or the admin API no such object)."""

    code = "not_found"


class UnknownService(ClientError):
    """No registered operation has this method and path (a wrong SDK or gateway version)."""

    code = "unknown_service"


class Conflict(ClientError):
    """The dossier code was already submitted with another body."""

    code = "dossier_code_conflict"


class PayloadTooLarge(ClientError):
    """The body is over the gateway's size limit."""

    code = "payload_too_large"


class QuotaExceeded(ClientError):
    """The day's quota is spent (429), or the SDK kept the reserve (``reserve`` True).

    ``reset_at`` is when the quota resets (local midnight in Asia/Ho_Chi_Minh, as UTC);
    ``retry_after_s`` is the gateway's ``Retry-After`` (reset plus jitter), None for a reserve.
    """

    code = "quota_exceeded"

    def __init__(
        self,
        detail: str | None = None,
        *,
        reset_at: datetime | None = None,
        reserve: bool = False,
        policy: str | None = None,
        remaining: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(detail, **kwargs)
        self.reset_at = reset_at
        self.reserve = reserve
        self.policy = policy
        self.remaining = remaining


class ProviderRejected(ClientError):
    """A national database refused the request with a 4xx code the SDK has no class for."""

    code = "upstream_rejected"


class UpstreamError(NdxpError):
    """The national database failed; the gateway answered for it or passed its 5xx on."""

    code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    """The national database did not answer within the gateway's timeout."""

    code = "upstream_timeout"
    retryable = True


class UpstreamUnreachable(UpstreamError):
    """The gateway could not connect to the national database."""

    code = "upstream_unreachable"
    retryable = True


class UpstreamReset(UpstreamError):
    """The national database dropped the connection mid-exchange (retried if idempotent)."""

    code = "upstream_reset"
    retryable = True


class UpstreamOverloaded(UpstreamError):
    """The national database answered 503: shedding load; ``retry_after_s`` if it said so."""

    code = "upstream_overloaded"
    retryable = True


class ProviderMaintenance(UpstreamError):
    """The national database is in a maintenance window until ``retry_after_s`` from now."""

    code = "provider_maintenance"
    retryable = True


class UpstreamFailure(UpstreamError):
    """The national database answered another 5xx: a bug there, not retried."""

    code = "upstream_error"


class GatewayFailure(NdxpError):
    """A bug in the NDXP gateway itself (500 ``gateway_error``)."""

    code = "gateway_error"


class ContractViolation(NdxpError):
    """A 2xx answer whose body does not satisfy the published contract model.

    ``body`` is the answer as parsed JSON (None if it was not JSON) and ``fields`` the paths
    the gateway named in ``X-NDXP-Contract-Violations`` (else pydantic's error locations), so
    a caller can go on with what did arrive and report the rest as missing.
    """

    code = "contract_violation"

    def __init__(
        self,
        detail: str | None = None,
        *,
        body: Any = None,
        fields: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(detail, **kwargs)
        self.body = body
        self.fields = fields


class CircuitOpen(NdxpError):
    """Not sent: the provider failed too often lately; ``retry_in_s`` until a probe is let by."""

    code = "circuit_open"

    def __init__(self, provider: str, retry_in_s: float) -> None:
        super().__init__(
            f"the circuit breaker of {provider} is open; next probe in {retry_in_s:.1f} s"
        )
        self.provider = provider
        self.retry_in_s = retry_in_s


class TransportError(NdxpError):
    """The SDK could not talk to the gateway (timeout, broken connection, protocol error)."""

    code = "transport_error"


class GatewayUnreachable(TransportError):
    """The connection to the gateway failed: nothing was sent, so retrying is safe."""

    code = "gateway_unreachable"
    retryable = True


# -- the response boundary ----------------------------------------------------------------------

#: Every code a province can see, gateway-made or in a passed-on body, and its class.
CODE_CLASSES: dict[str, type[NdxpError]] = {
    # gateway-made (gateway.errors.all_error_classes)
    "invalid_request": InvalidRequest,
    "unauthenticated": Unauthenticated,
    "forbidden": Forbidden,
    "not_found": NotFound,
    "method_not_allowed": InvalidRequest,
    "unknown_service": UnknownService,
    "payload_too_large": PayloadTooLarge,
    "quota_exceeded": QuotaExceeded,
    "upstream_error": UpstreamFailure,
    "upstream_timeout": UpstreamTimeout,
    "upstream_unreachable": UpstreamUnreachable,
    "upstream_reset": UpstreamReset,
    "upstream_protocol_error": UpstreamFailure,  # malformed HTTP: retrying repeats it
    "upstream_response_too_large": UpstreamFailure,
    "upstream_busy": UpstreamOverloaded,  # the gateway's connection cap: retry later
    "provider_maintenance": ProviderMaintenance,
    "gateway_error": GatewayFailure,
    "request_timeout": InvalidRequest,  # the province's own request was too slow to arrive
    "request_header_fields_too_large": InvalidRequest,
    "client_disconnected": InvalidRequest,  # recorded only: the province left before the answer
    "quota_unavailable": UpstreamOverloaded,  # the quota store is down: retry later
    "consumer_suspended": Unauthenticated,
    "consumer_revoked": Unauthenticated,
    "consumer_not_active": Forbidden,
    "sandbox_window_closed": Forbidden,
    # passed-through classifications (gateway.errors.PASSED_THROUGH_OUTCOMES)
    "upstream_overloaded": UpstreamOverloaded,
    "upstream_rejected": ProviderRejected,
    # national databases' own codes, in passed-on bodies
    "citizen_mismatch": InvalidRequest,
    "dossier_code_conflict": Conflict,
    "provider_overloaded": UpstreamOverloaded,
    "service_unavailable": UpstreamOverloaded,
    "provider_error": UpstreamFailure,
    "contract_violation": ContractViolation,
}

_BY_STATUS: dict[int, type[NdxpError]] = {
    400: InvalidRequest,
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    413: PayloadTooLarge,
    422: InvalidRequest,
    429: QuotaExceeded,
    502: UpstreamFailure,
    503: UpstreamOverloaded,
    504: UpstreamTimeout,
}


def error_class(code: str | None, status: int) -> type[NdxpError]:
    """The class for a wire ``code``; an unknown code falls back on the status."""
    if code in CODE_CLASSES:
        return CODE_CLASSES[code]
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ProviderRejected if status < 500 else UpstreamFailure


def error_from_response(response: httpx.Response, *, now: datetime | None = None) -> NdxpError:
    """The error a non-2xx answer of the gateway stands for; the SDK's one response boundary.

    The code comes from ``X-NDXP-Error`` when the gateway made the answer, else from the
    problem+json body the national database sent; a 503 is never mistaken for a 4xx and an
    unreadable body still gives a class by status. ``now`` (aware) dates ``reset_at``.
    """
    status = response.status_code
    problem = _problem_body(response)
    gateway_code = response.headers.get(ERROR_HEADER)
    body_code = problem.get("code") if isinstance(problem.get("code"), str) else None
    code = gateway_code or body_code
    cls = error_class(code, status)
    if status == 503 and cls is UpstreamFailure:
        cls = UpstreamOverloaded  # a provider 503 is overload whatever its body code says
    detail = problem.get("detail") or problem.get("title") or response.reason_phrase
    common: dict[str, Any] = {
        "code": code or cls.code,
        "status": status,
        "exchange_id": response.headers.get(EXCHANGE_ID_HEADER),
        "from_gateway": gateway_code is not None,
        "retry_after_s": retry_after_seconds(response.headers.get("Retry-After"), now),
        "problem": problem or None,
    }
    if cls is QuotaExceeded:
        return _quota_exceeded(response, str(detail), now, common)
    return cls(str(detail), **common)


def _quota_exceeded(
    response: httpx.Response, detail: str, now: datetime | None, common: dict[str, Any]
) -> QuotaExceeded:
    now = now or datetime.now(UTC)
    limits = parse_ratelimit(response.headers.get("RateLimit"))
    tightest = min(limits, key=lambda item: item.remaining) if limits else None
    reset_s = tightest.reset_s if tightest else common["retry_after_s"]
    return QuotaExceeded(
        detail,
        reset_at=None if reset_s is None else now + timedelta(seconds=reset_s),
        policy=tightest.policy if tightest else None,
        remaining=tightest.remaining if tightest else 0,
        **common,
    )


def _problem_body(response: httpx.Response) -> dict[str, Any]:
    try:
        body = json.loads(response.content)
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """``Retry-After`` (RFC 9110 §10.2.3: delay-seconds or an HTTP-date) as seconds from now."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# -- the transport boundary ---------------------------------------------------------------------


@contextmanager
def map_transport_errors() -> Iterator[None]:
    """Translate httpx's exceptions into :class:`TransportError`; the one place that does.

    A failed connect (refused, or timed out while connecting, or no pooled connection free)
    sent nothing, so it is :class:`GatewayUnreachable` and safe to retry; any other failure may
    have reached the gateway and is a plain :class:`TransportError`.
    """
    try:
        yield
    except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
        raise GatewayUnreachable(f"{type(exc).__name__}: {exc}") from exc
    except httpx.RequestError as exc:
        raise TransportError(f"{type(exc).__name__}: {exc}") from exc
