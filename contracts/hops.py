"""What a route's hop (the provincial LGSP, VDXP) logs of each call it carries — on the wire.

Every call through a hop gets one :class:`HopRecord` in that hop's own log (its own exchange
id; the W3C trace id it shares with the gateway's record of the same call), read back with
``GET /_hop/exchanges`` (admin token). ``origin`` says where the failure arose as the hop saw
it: at the hop itself (a fault injected there, the gateway unreachable from it, a malformed
X-Road request) or further down the route (the gateway's or the database's answer, passed
on unchanged).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

HopName = Literal["lgsp", "vdxp"]
HOP_NAMES: tuple[HopName, ...] = ("lgsp", "vdxp")

OUTCOME_OK = "ok"
OUTCOME_PASSED_ON = "passed_on"  # a 4xx/5xx from the gateway, passed on unchanged
OUTCOME_HOP_FAULT = "hop_fault"  # a scenario's fault injected at this hop
OUTCOME_GATEWAY_UNREACHABLE = "gateway_unreachable"
OUTCOME_GATEWAY_TIMEOUT = "gateway_timeout"
OUTCOME_INVALID_REQUEST = "invalid_request"  # VDXP: not a PR-REST request it can carry
OUTCOME_HOP_ERROR = "hop_error"  # a bug in the hop itself
HOP_OUTCOMES = frozenset(
    {
        OUTCOME_OK,
        OUTCOME_PASSED_ON,
        OUTCOME_HOP_FAULT,
        OUTCOME_GATEWAY_UNREACHABLE,
        OUTCOME_GATEWAY_TIMEOUT,
        OUTCOME_INVALID_REQUEST,
        OUTCOME_HOP_ERROR,
    }
)
# Outcomes of failures that arose at the hop itself (not further down the route).
AT_HOP = frozenset(HOP_OUTCOMES - {OUTCOME_OK, OUTCOME_PASSED_ON})


class HopRecord(BaseModel):
    """One call carried (or refused) by a hop."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    exchange_id: str = Field(description="The hop's own id of this call (32 hex digits).")
    hop: HopName
    trace_id: str = Field(description="W3C trace id, the same in the gateway's record.")
    consumer: str | None = Field(
        default=None, description="The token's subject, as the hop read it (not verified)."
    )
    method: str
    path: str = Field(description="The path the caller sent (no query).")
    provider: str | None = None
    operation_id: str | None = None
    status_code: int = Field(ge=100, le=599, description="What the caller received.")
    outcome: str = Field(description="One of HOP_OUTCOMES.")
    origin: Literal["hop", "downstream", "none"] = Field(
        description="hop: the failure arose here; downstream: it came back from the gateway; "
        "none: no failure."
    )
    injected_fault: str | None = Field(
        default=None, description="kind:rule-id of the faults a scenario injected at this hop."
    )
    gateway_exchange_id: str | None = Field(
        default=None, description="The gateway's X-NDXP-Exchange-Id, when it answered."
    )
    xroad_id: str | None = Field(default=None, description="VDXP: the X-Road-Id of the call.")
    request_in_ts: datetime
    duration_ms: float = Field(ge=0)
    detail: str | None = None


__all__ = [
    "AT_HOP",
    "HOP_NAMES",
    "HOP_OUTCOMES",
    "OUTCOME_GATEWAY_TIMEOUT",
    "OUTCOME_GATEWAY_UNREACHABLE",
    "OUTCOME_HOP_ERROR",
    "OUTCOME_HOP_FAULT",
    "OUTCOME_INVALID_REQUEST",
    "OUTCOME_OK",
    "OUTCOME_PASSED_ON",
    "HopName",
    "HopRecord",
]
