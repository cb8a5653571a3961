"""Problem codes a national database answers with (*mã lỗi của CSDL quốc gia*).

The gateway passes a national database's own errors on unchanged, without ``X-NDXP-Error``;
a province branches on their ``code`` as on the gateway's (:mod:`gateway.errors`). This table
is what every provider behind NDXP may answer — the mocks answer nothing else (a test holds
them to it) — and, with the gateway's hierarchy, makes the code table of the connection kit.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ProviderProblem:
    code: str
    status: int
    meaning: str
    retry: str


PROVIDER_PROBLEMS: tuple[ProviderProblem, ...] = (
    ProviderProblem(
        "invalid_request", 422, "the input breaks the contract (400: the body is not JSON)", "no"
    ),
    ProviderProblem(
        "citizen_mismatch",
        422,
        "a parent or the deceased is not a population citizen with exactly these values",
        "no",
    ),
    ProviderProblem("not_found", 404, "no record has this id", "no"),
    ProviderProblem(
        "method_not_allowed", 405, "the database has this path with another method", "no"
    ),
    ProviderProblem(
        "dossier_code_conflict", 409, "this dossier code was submitted with another body", "no"
    ),
    ProviderProblem(
        "provider_overloaded",
        503,
        "the database is shedding load",
        "yes, after Retry-After (with backoff)",
    ),
    ProviderProblem(
        "service_unavailable",
        503,
        "the database stopped answering for a while",
        "yes, after Retry-After (with backoff)",
    ),
    ProviderProblem(
        "provider_maintenance",
        503,
        "a scheduled maintenance window",
        "yes, after Retry-After (the window's end)",
    ),
    ProviderProblem(
        "provider_error",
        500,
        "the database failed; a 500 is not known to be transient",
        "no automatic retry; report it with the exchange id",
    ),
)


def provider_problem(code: str) -> ProviderProblem | None:
    """The row for ``code``, if a national database may answer it."""
    return next((p for p in PROVIDER_PROBLEMS if p.code == code), None)
