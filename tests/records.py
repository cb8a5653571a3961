"""Exchange records for the tests of the exchange log, its stores and its journal: record ``i``
received ``i`` seconds after :data:`T0`, every field set (microseconds and a fractional
duration included, so a store that rounds them is caught) — the live view's sample record
(:func:`liveview.testing.sample_record`) on a fixed timeline."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contracts.exchange import ExchangeRecord
from liveview.testing import sample_record

T0 = datetime(2025, 3, 14, 2, 0, 0, tzinfo=UTC)


def record(i: int, **changes: Any) -> ExchangeRecord:
    """Record ``i``, received ``i`` seconds after T0; ``changes`` override any field."""
    request_in = T0 + timedelta(seconds=i)
    timeline: dict[str, Any] = {
        "trace_id": f"{i + 1:032x}",
        "succeeded": True,  # as given: no outcome-dependent default
        "injected_fault": None,
        "request_in_ts": request_in,
        "request_out_ts": request_in + timedelta(milliseconds=1),
        "response_in_ts": request_in + timedelta(milliseconds=40, microseconds=7),
        "response_out_ts": request_in + timedelta(milliseconds=42),
        "duration_ms": 42.125,
        "upstream_ms": 39.0,
        "response_size": 512,
        "quota_remaining": 49_000 - i,
        "contract_violations": [],
        "detail": None,
    }
    return sample_record(i, **(timeline | changes))


__all__ = ["T0", "record"]
