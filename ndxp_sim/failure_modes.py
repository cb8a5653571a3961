"""The failure modes (FM-xx) of REPORTS.md that the simulator reproduces, with their report rows.

Row numbers are rows of report 003's Phụ lục V (the table of 87 problems met by 21 provinces).
FM-07, FM-08 and FM-10 are about documents and routes, not exchanges: no fault reproduces them,
so no run can show them. The kind → failure mode table is the fallback a report uses when it
has no scenario document to read a rule's own ``failure_mode`` from; the outcome table
attributes what the gateway saw without any fault header (a hang cut by the gateway's
timeout, a reset before the response).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FailureMode:
    id: str
    title: str
    rows: str  # where REPORTS.md cites it

    @property
    def citation(self) -> str:
        return f"003 Phụ lục V {self.rows}"


FAILURE_MODES: dict[str, FailureMode] = {
    fm.id: fm
    for fm in (
        FailureMode("FM-01", "timeouts, responses over 30 s", "rows 20, 51, 54–56, 63"),
        FailureMode(
            "FM-02",
            "frequent errors, intermittent disconnects, overload",
            "rows 11, 28, 32, 42, 43, 44, 48, 49, 85",
        ),
        FailureMode("FM-03", "specific APIs return nothing", "rows 3, 68, 51"),
        FailureMode("FM-04", "missing fields", "rows 20, 21, 25, 45, 50, 63, 64, 72"),
        FailureMode("FM-05", "attachments missing or unfetchable", "rows 4, 20, 31, 63, 64, 66"),
        FailureMode("FM-06", "statuses not synced", "rows 12, 13, 63, 64"),
        FailureMode("FM-11", "maintenance in business hours, limited availability", "rows 29, 62"),
    )
}

FAULT_KIND_FAILURE_MODE: dict[str, str] = {
    "latency": "FM-01",
    "hang": "FM-01",
    "http_error": "FM-02",
    "unavailable": "FM-02",
    "reset": "FM-02",
    "overload": "FM-02",
    "empty_list": "FM-03",
    "empty_body": "FM-03",
    "drop_fields": "FM-04",
    "dangling_file": "FM-05",
    "stale_status": "FM-06",
    "maintenance": "FM-11",
}

OUTCOME_FAILURE_MODE: dict[str, str] = {
    "upstream_timeout": "FM-01",
    "upstream_reset": "FM-02",
    "upstream_unreachable": "FM-02",
    "upstream_error": "FM-02",
    "upstream_overloaded": "FM-02",
    "provider_maintenance": "FM-11",
}
