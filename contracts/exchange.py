"""Wire models of the gateway's exchange log (nhật ký trao đổi dữ liệu).

One :class:`ExchangeRecord` per exchange between a provincial system and a national database,
rejected exchanges (401/403/404/429) included. Field names follow X-Road operational
monitoring (PR-OPMON: ``requestInTs``, ``requestOutTs``, ``responseInTs``, ``responseOutTs``,
``succeeded``, ``faultCode``, ``requestSize``, ``responseSize``), in snake_case, so an operator
who knows X-Road reads them without a glossary. The admin API returns these models and the
``ExchangeLog`` stores them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field

OUTCOME_OK = "ok"
OUTCOME_UPSTREAM_REJECTED = "upstream_rejected"


def _to_utc(value: datetime) -> datetime:
    # One time zone on the wire and on disk: records from several workers compare and sort
    # as stored, whatever offset the caller happened to use.
    return value.astimezone(UTC)


UtcTimestamp = Annotated[
    AwareDatetime,
    AfterValidator(_to_utc),
    Field(description="RFC 3339 date-time; any offset is accepted and normalised to UTC."),
]


def parse_injected_faults(header: str | None) -> list[tuple[str, str]]:
    """``"latency:slow-br, drop_fields:coop"`` → ``[("latency", "slow-br"), ...]``.

    The shape of ``X-NDXP-Injected-Fault`` (and of ``ExchangeRecord.injected_fault``): fault
    kind and scenario rule id, comma-separated; anything else in it is ignored.
    """
    pairs = []
    for item in (header or "").split(","):
        kind, sep, rule = item.strip().partition(":")
        if sep and kind and rule:
            pairs.append((kind, rule))
    return pairs


class ExchangeRecord(BaseModel):
    """One exchange as the gateway saw it, from request received to response sent."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exchange_id: str = Field(
        description="uuid4 hex; also sent to the province as X-NDXP-Exchange-Id.",
        examples=["5f0c6a0e2b7d4d7e9a3f1c2b4d6e8f10"],
    )
    trace_id: str = Field(description="W3C trace id (32 hex digits).")
    consumer: str | None = Field(
        description="Consumer id (the provincial system); None if the caller was never "
        "identified (401).",
        examples=["onestop-thanh-hoa"],
    )
    provider: str | None = Field(
        description="Provider (national database); None if no operation matched (404).",
        examples=["population"],
    )
    service: str | None = Field(
        description='"<provider>.<operation_id>".', examples=["population.get_citizen"]
    )
    method: str = Field(examples=["GET"])
    path_template: str | None = Field(
        description="The matched path template, never a raw path with ids.",
        examples=["/v1/citizens/{personal_id}"],
    )
    status_code: int = Field(ge=100, le=599, description="What the province received.")
    outcome: str = Field(
        description='"ok", "upstream_rejected" (a provider 4xx passed on), or an error code.',
        examples=["ok", "quota_exceeded", "upstream_timeout"],
    )
    succeeded: bool
    fault_code: str | None = Field(
        description="The stable error code when not succeeded, else None."
    )
    injected_fault: str | None = Field(
        default=None,
        description="The provider's X-NDXP-Injected-Fault header, if a fault was injected.",
    )
    request_in_ts: UtcTimestamp = Field(description="The gateway received the request.")
    request_out_ts: UtcTimestamp | None = Field(
        description="The gateway sent it to the provider; None if never forwarded."
    )
    response_in_ts: UtcTimestamp | None = Field(
        description="The provider's response head was received."
    )
    response_out_ts: UtcTimestamp = Field(description="The gateway finished answering.")
    duration_ms: float = Field(ge=0)
    upstream_ms: float | None = Field(ge=0)
    request_size: int = Field(ge=0, description="Request body bytes.")
    response_size: int = Field(ge=0, description="Response body bytes.")
    quota_remaining: int | None = Field(
        description="Tightest remaining daily count after this exchange; None if no quota applied."
    )
    contract_violations: list[str] = Field(
        default_factory=list,
        description="Missing or invalid field paths in the provider's response; [] if none.",
    )
    detail: str | None = Field(
        default=None, description="Human message for failures, personal ids masked."
    )


class ExchangePage(BaseModel):
    """One page of exchange records, newest first."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    items: list[ExchangeRecord]
    total: int = Field(ge=0, description="Records matching the filters, over all pages.")
    limit: int = Field(ge=1)
    offset: int = Field(ge=0)
