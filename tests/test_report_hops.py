"""Where each failure arose (ndxp_sim/report_hops.py), from records made by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from rich.console import Console

from contracts.exchange import ExchangeRecord
from contracts.hops import HopRecord
from ndxp_sim.report import build_report
from ndxp_sim.report_hops import as_exchange
from ndxp_sim.report_output import render_markdown, render_table

AT = datetime(2024, 6, 4, 2, 0, tzinfo=UTC)
PROVINCES = {"onestop-dak-lak": "066", "onestop-thanh-hoa": "038"}


def gateway(trace: str, outcome: str = "ok", **fields: Any) -> ExchangeRecord:
    status = {"ok": 200, "upstream_error": 500, "quota_exceeded": 429}.get(outcome, 502)
    values: dict[str, Any] = {
        "exchange_id": f"g{trace}",
        "trace_id": trace,
        "consumer": "onestop-dak-lak",
        "provider": "population",
        "service": "population.get_citizen",
        "method": "GET",
        "path_template": "/v1/citizens/{personal_id}",
        "status_code": status,
        "outcome": outcome,
        "succeeded": outcome == "ok",
        "fault_code": None if outcome == "ok" else outcome,
        "injected_fault": None,
        "request_in_ts": AT,
        "request_out_ts": None,
        "response_in_ts": None,
        "response_out_ts": AT,
        "duration_ms": 5.0,
        "upstream_ms": None,
        "request_size": 0,
        "response_size": 0,
        "quota_remaining": None,
        "detail": None,
    }
    return ExchangeRecord(**(values | fields))


def hop(trace: str, outcome: str = "ok", origin: str = "none", **fields: Any) -> HopRecord:
    values: dict[str, Any] = {
        "exchange_id": f"h{trace}",
        "hop": "lgsp",
        "trace_id": trace,
        "consumer": "onestop-dak-lak",
        "method": "GET",
        "path": "/civil-registry/v1/registrations/R",
        "provider": "civil-registry",
        "operation_id": "get_registration",
        "status_code": 200,
        "outcome": outcome,
        "origin": origin,
        "request_in_ts": AT,
        "duration_ms": 3.0,
    }
    return HopRecord(**(values | fields))


def origins(records: list[ExchangeRecord], hops: list[HopRecord]) -> dict[tuple[str, str], Any]:
    report = build_report(records, provinces=PROVINCES, hop_records={"lgsp": hops})
    return {(row.hop, row.system): row for row in report.origins}


def test_a_fault_at_the_lgsp_is_placed_at_the_lgsp_and_counted_as_an_exchange() -> None:
    at_hop = hop("a", "hop_fault", "hop", status_code=502, injected_fault="http_error:r1")
    report = build_report([], provinces=PROVINCES, hop_records={"lgsp": [at_hop]})
    (row,) = report.origins
    assert (row.hop, row.failures, row.rules, row.routes) == (
        "lgsp", {"upstream_error": 1}, {"r1": 1}, {"lgsp": 1}
    )  # fmt: skip
    assert row.provinces == ["066"]
    assert report.exchanges == 1
    assert report.hop_logs == {"lgsp": 1}


def test_a_database_failure_carried_by_the_lgsp_is_placed_at_the_database() -> None:
    failed = gateway("b", "upstream_error", injected_fault="http_error:db")
    where = origins([failed], [hop("b", "passed_on", "downstream", status_code=500)])
    assert set(where) == {("database", "population")}
    row = where["database", "population"]
    assert (row.routes, row.rules, row.trace_ids) == ({"lgsp": 1}, {"db": 1}, ["b"])


def test_a_refusal_of_the_gateway_itself_is_placed_at_the_gateway() -> None:
    where = origins([gateway("c", "quota_exceeded")], [])
    (row,) = where.values()
    assert (row.hop, row.failures, row.routes) == ("gateway", {"quota_exceeded": 1}, {"direct": 1})


def test_successes_and_plain_not_found_answers_are_nobodys_failure() -> None:
    records = [gateway("d"), gateway("e", "upstream_rejected")]
    assert origins(records, [hop("d"), hop("e", "passed_on", "downstream")]) == {}


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"outcome": "gateway_unreachable", "status_code": 502}, "upstream_unreachable"),
        ({"outcome": "gateway_timeout", "status_code": 504}, "upstream_timeout"),
        ({"outcome": "hop_fault", "status_code": 502, "injected_fault": "reset:r"},
         "upstream_reset"),
        ({"outcome": "hop_fault", "status_code": 503, "injected_fault": "maintenance:r"},
         "provider_maintenance"),
        ({"outcome": "hop_fault", "status_code": 499, "injected_fault": "hang:r"},
         "upstream_timeout"),
        ({"outcome": "invalid_request", "status_code": 400}, "invalid_request"),
        ({"outcome": "hop_error", "status_code": 500}, "hop_internal_error"),
    ],
)  # fmt: skip
def test_a_failure_at_a_hop_gets_the_outcome_the_gateway_logs_for_it(
    fields: dict[str, Any], outcome: str
) -> None:
    exchange = as_exchange(hop("f", origin="hop", **fields))
    assert exchange is not None
    assert exchange.outcome == outcome
    assert exchange.detail is not None
    assert exchange.detail.startswith("at the lgsp hop")


def test_only_failures_at_the_hop_stand_for_exchanges() -> None:
    assert as_exchange(hop("g")) is None
    assert as_exchange(hop("g", "passed_on", "downstream")) is None


def test_the_origins_table_is_printed_with_the_logs_it_read() -> None:
    at_hop = hop("h", "hop_fault", "hop", status_code=502, injected_fault="http_error:r1")
    report = build_report([], provinces=PROVINCES, hop_records={"lgsp": [at_hop], "vdxp": []})
    console = Console(record=True, width=200)
    render_table(report, console)
    text = console.export_text()
    assert "Where the failures arose" in text
    assert "lgsp 1, vdxp 0" in text
    markdown = render_markdown(report)
    assert "| lgsp | provincial LGSP | upstream_error 1 | lgsp 1 | r1 1 | 066 | h |" in markdown
