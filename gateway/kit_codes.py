"""The table of every code a province can receive (*bảng mã lỗi*), generated, never hand-written.

Two sources, so the table stays true when a code is added: the gateway's own errors
(:mod:`gateway.errors`, every class of the hierarchy; they carry ``X-NDXP-Error``) and the
national databases' problem codes passed on unchanged (:mod:`contracts.problems`; no
``X-NDXP-Error``). Outcomes that only classify a passed-on answer in the exchange log
(``upstream_overloaded``, ``upstream_rejected``, ...) are not codes on the wire and are listed
apart, so that nobody branches on them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from contracts.problems import PROVIDER_PROBLEMS
from gateway.errors import (
    PASSED_THROUGH_OUTCOMES,
    CallerError,
    GatewayError,
    GatewayInternalError,
    QuotaExceeded,
    Unauthenticated,
    UpstreamError,
    UpstreamReset,
    UpstreamUnreachable,
    all_error_classes,
)

GATEWAY = "gateway"
PROVIDER = "national database"


@dataclass(frozen=True, slots=True)
class CodeRow:
    """One code a province can receive."""

    code: str
    status: int
    origin: str  # GATEWAY (X-NDXP-Error set) or PROVIDER (passed on, no X-NDXP-Error)
    meaning: str
    retry: str

    def as_dict(self) -> dict[str, object]:
        return {**asdict(self), "x_ndxp_error": self.origin == GATEWAY}


def retry_advice(cls: type[GatewayError]) -> str:
    """What a connector should do on this gateway error (the SDK retries exactly the "yes")."""
    advice = cls.__dict__.get("advice")  # a class may say it itself
    if isinstance(advice, str):
        return advice
    if issubclass(cls, Unauthenticated):
        return "after a new token (once); then no: check the credentials"
    if issubclass(cls, QuotaExceeded):
        return "after Retry-After (local midnight, Asia/Ho_Chi_Minh)"
    if issubclass(cls, CallerError):
        return "no: fix the request"
    if cls is UpstreamError or issubclass(cls, GatewayInternalError) or cls is GatewayError:
        return "no automatic retry; report it with the exchange id"
    # Transient: no answer in time, no connection, a dropped one, or "busy, come back" (503).
    # A malformed or oversized answer (other 502s) would only come back the same.
    if cls.status_code in (503, 504) or issubclass(cls, UpstreamReset | UpstreamUnreachable):
        return "yes, with backoff (GET, or POST with an idempotency key); honour Retry-After"
    return "no automatic retry; report it with the exchange id"


def _meaning(cls: type[GatewayError]) -> str:
    """The class's own docstring's first paragraph, else its title."""
    if cls.code in PASSED_THROUGH_OUTCOMES:  # the base of the upstream errors
        return cls.title + ": its answer could not be read"
    own = cls.__dict__.get("__doc__")
    if not own:
        return cls.title
    paragraph = " ".join(own.strip().split("\n\n")[0].split())
    return paragraph.replace("``", "`").rstrip(".")


def gateway_rows() -> list[CodeRow]:
    """Every code the gateway itself answers with, from its error hierarchy."""
    rows: dict[str, CodeRow] = {}
    provider_codes = {p.code for p in PROVIDER_PROBLEMS}
    for cls in all_error_classes():  # root first: a subclass repeating a code overwrites it
        if cls.code in PASSED_THROUGH_OUTCOMES and cls.code in provider_codes:
            continue  # a provider's own code the gateway only classifies (provider_maintenance)
        meaning = _meaning(cls)
        rows[cls.code] = CodeRow(cls.code, cls.status_code, GATEWAY, meaning, retry_advice(cls))
    return sorted(rows.values(), key=lambda r: (r.status, r.code))


def provider_rows() -> list[CodeRow]:
    """Every problem code a national database may answer, passed on unchanged."""
    rows = [CodeRow(p.code, p.status, PROVIDER, p.meaning, p.retry) for p in PROVIDER_PROBLEMS]
    return sorted(rows, key=lambda r: (r.status, r.code))


def code_table() -> list[CodeRow]:
    """The whole table: the gateway's codes, then the national databases'."""
    return gateway_rows() + provider_rows()


def log_only_outcomes() -> dict[str, str]:
    """Exchange-log outcomes that are not codes on the wire (never branch on them)."""
    wire = {row.code for row in code_table()}
    return {
        k: v for k, v in PASSED_THROUGH_OUTCOMES.items() if k not in wire or k == "upstream_error"
    }


def render_markdown(rows: list[CodeRow]) -> str:
    """The table as Markdown (the kit's ``codes.md`` and the README's table)."""
    lines = [
        "| code | status | from | `X-NDXP-Error` | meaning | retry? |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        mark = "yes" if r.origin == GATEWAY else "no"
        lines.append(f"| `{r.code}` | {r.status} | {r.origin} | {mark} | {r.meaning} | {r.retry} |")
    return "\n".join(lines) + "\n"
