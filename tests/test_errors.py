"""The error hierarchy: stable codes and statuses, split by origin, rendered as RFC 9457."""

from __future__ import annotations

import pytest

from contracts.headers import ERROR_HEADER
from gateway import errors
from gateway.errors import GatewayError, all_error_classes

EXPECTED = [
    ("InvalidRequest", "invalid_request", 400, errors.CallerError),
    ("Unauthenticated", "unauthenticated", 401, errors.CallerError),
    ("Forbidden", "forbidden", 403, errors.CallerError),
    ("NotFound", "not_found", 404, errors.CallerError),
    ("MethodNotAllowed", "method_not_allowed", 405, errors.CallerError),
    ("UnknownService", "unknown_service", 404, errors.CallerError),
    ("PayloadTooLarge", "payload_too_large", 413, errors.CallerError),
    ("QuotaExceeded", "quota_exceeded", 429, errors.CallerError),
    ("UpstreamError", "upstream_error", 502, errors.UpstreamError),
    ("UpstreamTimeout", "upstream_timeout", 504, errors.UpstreamError),
    ("UpstreamUnreachable", "upstream_unreachable", 502, errors.UpstreamError),
    ("UpstreamReset", "upstream_reset", 502, errors.UpstreamError),
    ("ProviderMaintenance", "provider_maintenance", 503, errors.UpstreamError),
    ("GatewayInternalError", "gateway_error", 500, errors.GatewayError),
]


@pytest.mark.parametrize(("name", "code", "status", "origin"), EXPECTED)
def test_error_class_has_its_stable_code_status_and_origin(
    name: str, code: str, status: int, origin: type[GatewayError]
) -> None:
    cls = getattr(errors, name)
    assert (cls.code, cls.status_code) == (code, status)
    assert issubclass(cls, origin)


def test_every_class_in_the_hierarchy_is_documented_in_the_module_docstring() -> None:
    doc = errors.__doc__ or ""
    for cls in all_error_classes():
        if cls.__module__ == errors.__name__:
            assert cls.__name__ in doc
            assert cls.code in doc


def test_codes_of_leaf_classes_are_unique() -> None:
    leaves = [c for c in all_error_classes() if c.__module__ == errors.__name__]
    codes = [c.code for c in leaves if not c.__subclasses__()]
    assert len(codes) == len(set(codes))


def test_problem_body_carries_code_exchange_id_and_extensions() -> None:
    err = errors.QuotaExceeded("spent", extensions={"violated-policies": ["daily"]})
    body = err.problem(exchange_id="abc").model_dump(mode="json", exclude_none=True)
    assert body == {
        "type": "https://iana.org/assignments/http-problem-types#quota-exceeded",
        "title": "Daily quota exhausted",
        "status": 429,
        "detail": "spent",
        "code": "quota_exceeded",
        "exchange_id": "abc",
        "violated-policies": ["daily"],
    }


def test_gateway_made_errors_say_so_in_a_header() -> None:
    assert errors.UpstreamTimeout().response_headers()[ERROR_HEADER] == "upstream_timeout"


def test_unauthenticated_names_the_bearer_scheme() -> None:
    headers = errors.Unauthenticated().response_headers()
    assert headers["WWW-Authenticate"].startswith("Bearer")


def test_reserved_provider_maintenance_renders_as_503_problem() -> None:
    problem = errors.ProviderMaintenance("window 08:00-10:00").problem(exchange_id="x")
    assert (problem.status, problem.code) == (503, "provider_maintenance")
    assert problem.type.endswith("provider-maintenance")
