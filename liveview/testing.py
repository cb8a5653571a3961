"""Sample exchange records for the live view's tests and benchmark."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from contracts.exchange import ExchangeRecord


def sample_record(n: int = 0, **fields: Any) -> ExchangeRecord:
    """A plausible finished exchange (Thanh Hóa looks a citizen up); ``fields`` override."""
    now = datetime.now(UTC)
    base: dict[str, Any] = {
        "exchange_id": f"{n:032x}",
        "trace_id": f"{n:032x}",
        "consumer": "onestop-thanh-hoa",
        "provider": "population",
        "service": "population.get_citizen",
        "method": "GET",
        "path_template": "/v1/citizens/{personal_id}",
        "status_code": 200,
        "outcome": "ok",
        "succeeded": True,
        "fault_code": None,
        "request_in_ts": now,
        "request_out_ts": now,
        "response_in_ts": now,
        "response_out_ts": now,
        "duration_ms": 12.5,
        "upstream_ms": 10.0,
        "request_size": 0,
        "response_size": 900,
        "quota_remaining": 49_999,
    }
    base.update(fields)
    if base["outcome"] != "ok" and "succeeded" not in fields:
        base["succeeded"], base["fault_code"] = False, base["outcome"]
    return ExchangeRecord(**base)


__all__ = ["sample_record"]
