"""``ndxp-sim report``: attribution of exchanges to failure modes, the two tables, rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from contracts.exchange import ExchangeRecord
from contracts.gateway import Run
from mock_services.scenarios import find_scenario
from ndxp_sim.failure_modes import FAILURE_MODES, FAULT_KIND_FAILURE_MODE
from ndxp_sim.report import build_report, percentile
from ndxp_sim.report_output import render_json, render_markdown

T0 = datetime(2024, 6, 4, 2, 0, tzinfo=UTC)
PROVINCES = {"onestop-thanh-hoa": "038", "onestop-quang-binh": "044"}


def record(n: int, **fields: Any) -> ExchangeRecord:
    base: dict[str, Any] = {
        "exchange_id": f"{n:032x}",
        "trace_id": f"{n:032x}",
        "consumer": "onestop-thanh-hoa",
        "provider": "business-registry",
        "service": "business-registry.list_cooperative_dossiers",
        "method": "GET",
        "path_template": "/v1/cooperative-dossiers",
        "status_code": 200,
        "outcome": "ok",
        "succeeded": True,
        "fault_code": None,
        "request_in_ts": T0 + timedelta(seconds=n),
        "request_out_ts": T0 + timedelta(seconds=n),
        "response_in_ts": T0 + timedelta(seconds=n),
        "response_out_ts": T0 + timedelta(seconds=n),
        "duration_ms": 10.0 * (n + 1),
        "upstream_ms": 9.0,
        "request_size": 0,
        "response_size": 100,
        "quota_remaining": 10,
    }
    failed = fields.get("outcome", "ok") != "ok"
    base.update(succeeded=not failed, fault_code=fields.get("outcome") if failed else None)
    return ExchangeRecord.model_validate({**base, **fields})


def reported_run() -> Run:
    scenario = find_scenario("reported-2024")
    return Run(
        run_id="r1",
        scenario=scenario.id,
        title=scenario.title,
        seed=scenario.seed,
        started_at=T0,
        ended_at=None,
        clock_at=None,
        failure_modes=list(scenario.failure_modes),
        document=scenario.model_dump(mode="json"),
    )


def test_injected_faults_count_for_their_rules_failure_mode_with_its_sources() -> None:
    both = "latency:business-registry-slow, empty_list:quang-binh-empty-lists"
    records = [
        record(0, injected_fault="drop_fields:cooperative-list-without-procedure",
               contract_violations=["items[].procedure_code"]),
        record(1, injected_fault=both, consumer="onestop-quang-binh"),
        record(2),
    ]  # fmt: skip
    report = build_report(records, provinces=PROVINCES, run=reported_run())
    rows = {row.failure_mode: row for row in report.failure_modes}
    assert set(rows) == {"FM-01", "FM-03", "FM-04"}
    assert rows["FM-04"].violated_fields == {"items[].procedure_code": 1}
    assert rows["FM-04"].rules == {"cooperative-list-without-procedure": 1}
    assert "003 Phụ lục V row 20 (Thanh Hóa)" in rows["FM-04"].citations
    assert FAILURE_MODES["FM-04"].citation in rows["FM-04"].citations
    assert rows["FM-03"].provinces == ["044"]
    assert "003 Phụ lục V row 3 (Quảng Bình)" in rows["FM-03"].citations
    assert rows["FM-01"].exchanges == 1
    assert report.exchanges == 3
    assert report.outcomes == {"ok": 3}


def test_failures_without_a_fault_header_count_by_outcome() -> None:
    records = [
        record(0, outcome="upstream_timeout", status_code=504),
        record(1, outcome="upstream_reset", status_code=502),
        record(2, outcome="provider_maintenance", status_code=503),
        record(3, contract_violations=["phone"]),
        record(4, outcome="quota_exceeded", status_code=429),
        record(5, outcome="upstream_rejected", status_code=404),
    ]
    report = build_report(records, provinces=PROVINCES)
    rows = {row.failure_mode: row for row in report.failure_modes}
    assert set(rows) == {"FM-01", "FM-02", "FM-04", "FM-11"}
    assert rows["FM-01"].timeout_rate == 1.0
    assert rows["FM-01"].failures == {"upstream_timeout": 1}
    assert rows["FM-11"].failures == {"provider_maintenance": 1}
    assert rows["FM-04"].violated_fields == {"phone": 1}
    assert rows["FM-02"].citations == [FAILURE_MODES["FM-02"].citation]


def test_without_a_scenario_document_a_fault_counts_for_its_kind() -> None:
    report = build_report([record(0, injected_fault="dangling_file:some-rule")], provinces={})
    assert [row.failure_mode for row in report.failure_modes] == ["FM-05"]
    assert set(FAULT_KIND_FAILURE_MODE.values()) <= set(FAILURE_MODES)


def test_cells_split_by_province_and_provider() -> None:
    records = [
        record(0),
        record(1, outcome="upstream_timeout", status_code=504),
        record(2, consumer="onestop-quang-binh", provider="population",
               service="population.get_citizen"),
        record(3, consumer=None, provider=None, service=None, outcome="unauthenticated",
               status_code=401),
    ]  # fmt: skip
    report = build_report(records, provinces=PROVINCES)
    cells = {(c.province, c.provider): c for c in report.cells}
    assert set(cells) == {("038", "business-registry"), ("044", "population")}
    thanh_hoa = cells["038", "business-registry"]
    assert (thanh_hoa.requests, thanh_hoa.ok, thanh_hoa.timeout_rate) == (2, 1, 0.5)
    assert thanh_hoa.province_name == "Thanh Hóa"
    assert thanh_hoa.failure_modes == ["FM-01"]
    assert report.exchanges == 4  # the 401 is counted, never attributed


def test_a_healthy_run_shows_no_failure_mode() -> None:
    report = build_report([record(n) for n in range(5)], provinces=PROVINCES)
    assert report.failure_modes == []
    assert "No failure mode observed." in render_markdown(report)


def test_markdown_and_json_carry_the_citations() -> None:
    report = build_report(
        [record(0, outcome="upstream_timeout", status_code=504)],
        provinces=PROVINCES,
        run=reported_run(),
    )
    markdown = render_markdown(report)
    assert "| FM-01 | timeouts, responses over 30 s | 1 |" in markdown
    assert FAILURE_MODES["FM-01"].citation in markdown
    assert '"failure_mode": "FM-01"' in render_json(report)


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [([], 95, 0.0), ([5.0], 95, 5.0), ([float(v) for v in range(1, 101)], 95, 95.0),
     ([1.0, 2.0, 3.0, 4.0], 50, 2.0)],
)  # fmt: skip
def test_percentile_is_nearest_rank(values: list[float], pct: float, expected: float) -> None:
    assert percentile(values, pct) == expected
