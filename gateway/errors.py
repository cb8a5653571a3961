"""Every error the gateway answers with — one hierarchy, split by origin (*nguồn lỗi*).

::

    GatewayError                         (abstract; code, status_code, title, type)
    ├── CallerError                      the province's request was refused (4xx)
    │   ├── InvalidRequest               400 invalid_request
    │   ├── Unauthenticated              401 unauthenticated
    │   │   ├── ConsumerSuspended        401 consumer_suspended (onboarding: suspended by ops)
    │   │   └── ConsumerRevoked          401 consumer_revoked   (onboarding: revoked for good)
    │   ├── Forbidden                    403 forbidden
    │   │   └── SandboxWindowClosed      403 sandbox_window_closed (outside its testing window)
    │   ├── ConsumerNotActive            409 consumer_not_active (admin API: not approved yet, ...)
    │   ├── NotFound                     404 not_found        (admin API: no such consumer, ...)
    │   ├── MethodNotAllowed             405 method_not_allowed (the gateway's own endpoints)
    │   ├── UnknownService               404 unknown_service  (no registered operation matched)
    │   ├── RequestTimeout               408 request_timeout  (head or body not sent in time)
    │   ├── PayloadTooLarge              413 payload_too_large
    │   ├── RequestHeaderFieldsTooLarge  431 request_header_fields_too_large (head size, count)
    │   ├── QuotaExceeded                429 quota_exceeded
    │   └── ClientDisconnected           499 client_disconnected (left mid-request; recorded,
    │                                        never sent, as nginx's 499)
    ├── UpstreamError                    502 upstream_error   the national database failed
    │   ├── UpstreamTimeout              504 upstream_timeout
    │   ├── UpstreamUnreachable          502 upstream_unreachable
    │   ├── UpstreamReset                502 upstream_reset
    │   ├── UpstreamProtocolError        502 upstream_protocol_error (the answer is not valid
    │   │                                    HTTP/1.1: Content-Length, chunk framing, head size)
    │   ├── UpstreamResponseTooLarge     502 upstream_response_too_large (over the provider's
    │   │                                    max_response_bytes)
    │   ├── UpstreamBusy                 503 upstream_busy    (all max_connections to the
    │   │                                    provider stayed busy for timeouts.pool_s)
    │   └── ProviderMaintenance          503 provider_maintenance (a provider 503 whose problem
    │                                        code says maintenance; classified, passed on)
    ├── QuotaUnavailable                 503 quota_unavailable the shared quota store cannot be
    │                                        reached and the failure policy is closed
    └── GatewayInternalError             500 gateway_error    a bug in the gateway itself

Codes are stable and snake_case: provinces branch on them, so a code is never renamed. Some
outcomes are *classifications* of a provider response the gateway passes on unchanged, not
errors it raises: ``upstream_error`` (provider 5xx), ``upstream_overloaded`` (provider 503),
``provider_maintenance`` (provider 503 saying so) and ``upstream_rejected`` (provider 4xx);
see :data:`PASSED_THROUGH_OUTCOMES`.

Bodies are RFC 9457 problem details (``application/problem+json``) with ``code`` and the
exchange id; every error made here also carries the header ``X-NDXP-Error: <code>`` so that a
province can tell "NDXP refused me" from "the national database failed" (X-Road's
``X-Road-Error`` plays the same part). Exceptions of third-party libraries (httpx) are
translated into this hierarchy at exactly one boundary: :func:`gateway.upstream.map_httpx_errors`.
"""

from __future__ import annotations

from typing import Any, ClassVar

from contracts.common import Problem
from contracts.headers import ERROR_HEADER

PASSED_THROUGH_OUTCOMES = {
    "upstream_error": "the provider answered 5xx; its response was passed on",
    "upstream_overloaded": "the provider answered 503; its response was passed on",
    "provider_maintenance": "the provider answered 503 with problem code provider_maintenance "
    "(scheduled maintenance); its response was passed on",
    "upstream_rejected": "the provider answered 4xx; its response was passed on",
}
_TYPE_BASE = "https://ndxp-sim.example/problems/"


class GatewayError(Exception):
    """Root of the hierarchy; subclasses set ``code``, ``status_code`` and ``title``."""

    code: ClassVar[str] = "gateway_error"
    status_code: ClassVar[int] = 500
    title: ClassVar[str] = "Gateway error"

    def __init__(
        self,
        detail: str | None = None,
        *,
        headers: dict[str, str] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail or self.title)
        self.detail = detail
        self.headers = dict(headers or {})
        self.extensions = dict(extensions or {})

    @classmethod
    def problem_type(cls) -> str:
        """A URI naming the problem type; one page per code."""
        return _TYPE_BASE + cls.code.replace("_", "-")

    def problem(self, exchange_id: str | None = None, instance: str | None = None) -> Problem:
        """The RFC 9457 body for this error."""
        return Problem(
            type=self.problem_type(),
            title=self.title,
            status=self.status_code,
            detail=self.detail,
            instance=instance,
            code=self.code,
            exchange_id=exchange_id,
            **self.extensions,
        )

    def response_headers(self) -> dict[str, str]:
        """Headers of the problem response: the extra ones plus ``X-NDXP-Error``."""
        return {**self.headers, ERROR_HEADER: self.code}


class CallerError(GatewayError):
    """The province's request was refused before it reached a national database."""

    code = "invalid_request"
    status_code = 400
    title = "Invalid request"


class InvalidRequest(CallerError):
    code = "invalid_request"
    status_code = 400
    title = "Invalid request"


class Unauthenticated(CallerError):
    code = "unauthenticated"
    status_code = 401
    title = "Missing or invalid credentials"

    def response_headers(self) -> dict[str, str]:
        # RFC 6750 §3: a 401 for a bearer-protected resource names the scheme.
        return {"WWW-Authenticate": 'Bearer realm="ndxp"', **super().response_headers()}


class Forbidden(CallerError):
    code = "forbidden"
    status_code = 403
    title = "Not subscribed to this service"


class ConsumerSuspended(Unauthenticated):
    """The consumer is suspended by ops (onboarding at runtime); it may be reactivated."""

    code = "consumer_suspended"
    title = "This consumer is suspended"
    advice: ClassVar[str] = "no: ask NDXP ops to reactivate the consumer"


class ConsumerRevoked(Unauthenticated):
    """The consumer's access is revoked for good."""

    code = "consumer_revoked"
    title = "This consumer's access is revoked"
    advice: ClassVar[str] = "no: the consumer must be registered again"


class SandboxWindowClosed(Forbidden):
    """The consumer may call only in its sandbox window (e.g. outside office hours)."""

    code = "sandbox_window_closed"
    title = "Outside this consumer's sandbox window"
    advice: ClassVar[str] = "after Retry-After (when the window opens); not automatically"


class ConsumerNotActive(CallerError):
    """Admin API: the consumer is pending, suspended or revoked for what was asked."""

    code = "consumer_not_active"
    status_code = 409
    title = "The consumer is not active"


class NotFound(CallerError):
    code = "not_found"
    status_code = 404
    title = "Not found"


class MethodNotAllowed(CallerError):
    code = "method_not_allowed"
    status_code = 405
    title = "Method not allowed"


class UnknownService(CallerError):
    code = "unknown_service"
    status_code = 404
    title = "No registered service at this method and path"


class PayloadTooLarge(CallerError):
    code = "payload_too_large"
    status_code = 413
    title = "Request body too large"


class RequestTimeout(CallerError):
    """The request head or body did not arrive within its deadline (RFC 9110 §15.5.9)."""

    code = "request_timeout"
    status_code = 408
    title = "Request not received in time"
    advice: ClassVar[str] = "no: send the request without pauses (the ops guide: deadlines)"


class RequestHeaderFieldsTooLarge(CallerError):
    """Too many header fields, or too many bytes of them (RFC 6585 §5)."""

    code = "request_header_fields_too_large"
    status_code = 431
    title = "Request header fields too large"


class ClientDisconnected(CallerError):
    """The province closed the connection before its request was read: nobody to answer.

    Recorded with status 499 (nginx's "client closed request"), never sent.
    """

    code = "client_disconnected"
    status_code = 499
    title = "Client closed the request"
    advice: ClassVar[str] = "never sent: the exchange log's record of a province that left"


class QuotaExceeded(CallerError):
    code = "quota_exceeded"
    status_code = 429
    title = "Daily quota exhausted"

    @classmethod
    def problem_type(cls) -> str:
        # The IANA-registered type of draft-ietf-httpapi-ratelimit-headers.
        return "https://iana.org/assignments/http-problem-types#quota-exceeded"


class UpstreamError(GatewayError):
    """The national database failed; the gateway made this answer on its behalf."""

    code = "upstream_error"
    status_code = 502
    title = "The national database failed"


class UpstreamTimeout(UpstreamError):
    code = "upstream_timeout"
    status_code = 504
    title = "The national database did not answer in time"


class UpstreamUnreachable(UpstreamError):
    code = "upstream_unreachable"
    status_code = 502
    title = "The national database could not be reached"


class UpstreamReset(UpstreamError):
    code = "upstream_reset"
    status_code = 502
    title = "The national database dropped the connection"


class UpstreamProtocolError(UpstreamError):
    code = "upstream_protocol_error"
    status_code = 502
    title = "The national database answered with malformed HTTP"


class UpstreamResponseTooLarge(UpstreamError):
    code = "upstream_response_too_large"
    status_code = 502
    title = "The national database's answer is too large"


class UpstreamBusy(UpstreamError):
    """The gateway's cap on connections to one provider was reached and no connection was
    freed in time: the province's call never reached the database."""

    code = "upstream_busy"
    status_code = 503
    title = "Every connection to the national database is busy"


class ProviderMaintenance(UpstreamError):
    code = "provider_maintenance"
    status_code = 503
    title = "The national database is under maintenance"


class QuotaUnavailable(GatewayError):
    """The quota store (Redis) cannot be reached and ``quota_failure_policy`` is ``closed``.

    The province is not at fault and the national database was never called: retry shortly.
    """

    code = "quota_unavailable"
    status_code = 503
    title = "Daily quotas cannot be checked right now"


class GatewayInternalError(GatewayError):
    """A bug in the gateway: still logged, still answered with problem+json."""

    code = "gateway_error"
    status_code = 500
    title = "Internal gateway error"


def all_error_classes() -> list[type[GatewayError]]:
    """Every class of the hierarchy, root first (the OpenAPI document lists their codes)."""
    found: list[type[GatewayError]] = []
    todo: list[type[GatewayError]] = [GatewayError]
    while todo:
        cls = todo.pop(0)
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return found
