"""Wire types shared by every contract: identifiers, errors (RFC 9457), pages, time windows."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

CONTRACT_VERSION = "1.0.0"

PERSONAL_ID_PATTERN = r"^\d{12}$"
PERSONAL_ID_DESCRIPTION = (
    "12-digit personal id (số định danh cá nhân / số CCCD): province code (3), "
    "gender-and-century digit (1), birth year (2), serial (6)."
)
PersonalId = Annotated[
    str,
    Field(pattern=PERSONAL_ID_PATTERN, description=PERSONAL_ID_DESCRIPTION),
]
ProvinceCode = Annotated[
    str,
    Field(
        pattern=r"^\d{3}$",
        description="Three-digit province code (mã tỉnh), e.g. 038 for Thanh Hóa.",
        examples=["038"],
    ),
]
Gender = Literal["male", "female"]
FullName = Annotated[
    str, Field(min_length=1, max_length=200, description="Full name (họ, chữ đệm và tên).")
]
Timestamp = Annotated[AwareDatetime, Field(description="RFC 3339 date-time with a UTC offset.")]


def _rfc3339(pattern: str, what: str) -> Callable[[Any], Any]:
    text = re.compile(pattern)

    def check(value: Any) -> Any:
        # Pydantic alone reads 0, "0" or "1700000000" as seconds since 1970: the contracts
        # say an RFC 3339 string (format date / date-time), so nothing else is accepted.
        if isinstance(value, date):  # from Python callers (a datetime is a date too)
            return value
        if not isinstance(value, str) or text.fullmatch(value) is None:
            raise ValueError(f"{what} is required")
        return value

    return check


# The time window of the dossier listings, `[from, to)`: the rules JSON Schema cannot say.
WINDOW_FROM_DESCRIPTION = (
    "Window start, inclusive (RFC 3339 with a UTC offset). `from` must not be after `to` and "
    "the window is at most 31 days long, else 422 invalid_request; `from` equal to `to` is an "
    "empty window (an empty page)."
)
WINDOW_TO_DESCRIPTION = "Window end, exclusive (RFC 3339 with a UTC offset)."


def _no_bool_or_text(value: Any) -> Any:
    # Lax pydantic reads true as 1 and "5" as 5; JSON Schema's integer is a number with no
    # fraction (5 or 5.0), which is exactly what is left.
    if isinstance(value, bool | str):
        raise ValueError("an integer (a JSON number) is required")  # noqa: TRY004 (pydantic)
    return value


INTEGER_ONLY = BeforeValidator(_no_bool_or_text)  # after any bound (see WireCount)
WireInt = Annotated[int, INTEGER_ONLY]
# A count (a quota): not negative, and stored as a 64-bit integer, so bounded (a trillion a
# day is no limit; 3e24 was a 500). The bounds before the validator, so the schema shows them.
WireCount = Annotated[int, Field(ge=0, le=10**12), INTEGER_ONLY]

# Inputs (request bodies, query parameters): exactly the text the schema's format names.
WireDate = Annotated[
    date, BeforeValidator(_rfc3339(r"\d{4}-\d{2}-\d{2}", "an RFC 3339 date (YYYY-MM-DD)"))
]
WireDatetime = Annotated[
    AwareDatetime,
    BeforeValidator(
        _rfc3339(
            r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})",
            "an RFC 3339 date-time with a UTC offset (e.g. 2024-06-03T00:00:00Z)",
        )
    ),
]


class WireModel(BaseModel):
    """Base of every contract model: unknown fields are refused, so contracts stay exact."""

    model_config = ConfigDict(extra="forbid", frozen=True)


LifecycleStatus = Literal[
    "received", "processing", "paused", "rejected", "overdue", "processed", "returned"
]
StatusCode = Literal[2, 3, 4, 5, 9, 10]
# The DVCQG status codes provinces sync: received (2), rejected (3), processing (4), paused
# (5), overdue (4: DVCQG has no code of its own, it is processing past the deadline),
# processed (9), returned (10).
STATUS_CODES: dict[LifecycleStatus, StatusCode] = {
    "received": 2,
    "rejected": 3,
    "processing": 4,
    "paused": 5,
    "overdue": 4,
    "processed": 9,
    "returned": 10,
}


class StatusTransition(WireModel):
    """One step of a dossier's lifecycle (một lần chuyển trạng thái)."""

    status: LifecycleStatus
    status_code: StatusCode = Field(description="DVCQG status code (mã trạng thái).")
    at: Timestamp
    note: str | None = Field(description="Reason of a pause or a rejection (lý do); else null.")


class FieldError(WireModel):
    loc: list[str | int] = Field(
        description="Where the error is: ['query', 'from'], ['body', ...]."
    )
    msg: str
    type: str


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable snake_case ``code`` (vấn đề / lỗi)."""

    model_config = ConfigDict(extra="allow")

    type: str = Field(default="about:blank", description="A URI naming the problem type.")
    title: str
    status: int = Field(ge=400, le=599)
    detail: str | None = None
    instance: str | None = None
    code: str = Field(
        pattern=r"^[a-z][a-z0-9_]*$", description="Stable snake_case error code (mã lỗi)."
    )
    exchange_id: str | None = Field(default=None, description="Gateway exchange id, if any.")
    errors: list[FieldError] | None = Field(
        default=None, description="Field-level validation errors (invalid_request only)."
    )


PROBLEM_MEDIA_TYPE = "application/problem+json"


def install_problem_schema(doc: dict[str, Any]) -> None:
    """Add the ``Problem`` schema (and what it refers to) to an OpenAPI document's components."""
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    schema = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        schemas.setdefault(name, sub)
    schemas["Problem"] = schema


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries declaring problem+json bodies for the given statuses."""
    titles = {
        400: "Bad request (invalid_request)",
        404: "Not found (not_found)",
        409: "Conflict",
        413: "Payload too large",
        422: "Unprocessable: the input breaks the contract (invalid_request)",
        503: "Service unavailable",
    }
    return {
        status: {
            "description": titles.get(status, "Problem"),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }
