"""``ndxp-sim report``: attribution of exchanges to failure modes, the two tables, rendering."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rich.console import Console

from contracts.exchange import ExchangeRecord
from contracts.gateway import Run
from mock_services.scenarios import find_scenario, parse_scenario
from ndxp_sim.failure_modes import FAILURE_MODES, FAULT_KIND_FAILURE_MODE
from ndxp_sim.report import FailureModeRow, Report, build_report, percentile
from ndxp_sim.report_output import render_json, render_markdown, render_table

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


def run_of(document: dict[str, Any], *, clock_at: datetime | None = None) -> Run:
    scenario = parse_scenario(document)
    return Run(
        run_id="r1",
        scenario=scenario.id,
        title=scenario.title,
        seed=scenario.seed,
        started_at=T0,
        ended_at=None,
        clock_at=clock_at,
        failure_modes=list(scenario.failure_modes),
        document=scenario.model_dump(mode="json"),
    )


def reported_run() -> Run:
    return run_of(find_scenario("reported-2024").model_dump(mode="json"))


def one_rule_run(rule: dict[str, Any]) -> Run:
    return run_of(
        {
            "id": "one-rule",
            "title": "one rule",
            "description": "A single rule, for a test.",
            "source": rule["source"],
            "rules": [rule],
        }
    )


def rows_of(report: Report) -> dict[str, FailureModeRow]:
    return {row.failure_mode: row for row in report.failure_modes}


def test_a_mode_claims_only_the_rows_its_fired_rules_cite() -> None:
    run = one_rule_run(
        {
            "id": "dien-bien-renewal",
            "failure_mode": "FM-04",
            "source": ["003 Phụ lục V row 84 (Điện Biên)"],
            "match": {"provider": "driver-licence", "operations": ["get_renewal_dossier"]},
            "fault": {"kind": "drop_fields", "fields": ["phone"]},
        }
    )
    records = [
        record(0, provider="driver-licence", service="driver-licence.get_renewal_dossier",
               injected_fault="drop_fields:dien-bien-renewal", contract_violations=["phone"]),
    ]  # fmt: skip
    fm04 = rows_of(build_report(records, provinces=PROVINCES, run=run))["FM-04"]
    assert fm04.citations == ["003 Phụ lục V row 84 (Điện Biên)"]
    assert fm04.not_reproduced == "003 Phụ lục V rows 20, 21, 25, 45, 50, 63, 64, 72"
    markdown = render_markdown(build_report(records, provinces=PROVINCES, run=run))
    assert "named by the reports, not reproduced" in markdown
    assert "row 21" not in markdown.split("| FM-04 |")[1].split("|")[8]  # "reproduces" cell


def test_injected_faults_count_for_their_rules_failure_mode_with_its_sources() -> None:
    both = "latency:business-registry-slow, empty_list:quang-binh-empty-lists"
    records = [
        record(0, injected_fault="drop_fields:cooperative-list-without-procedure",
               contract_violations=["items[].procedure_code"]),
        record(1, injected_fault=both, consumer="onestop-quang-binh"),
        record(2),
    ]  # fmt: skip
    report = build_report(records, provinces=PROVINCES, run=reported_run())
    rows = rows_of(report)
    assert set(rows) == {"FM-01", "FM-03", "FM-04"}
    assert rows["FM-04"].violated_fields == {"items[].procedure_code": 1}
    assert rows["FM-04"].failures == {"missing_fields": 1}
    assert rows["FM-04"].rules == {"cooperative-list-without-procedure": 1}
    assert rows["FM-03"].provinces == ["044"]
    assert rows["FM-03"].citations == [
        "003 Phụ lục V row 3 (Quảng Bình)",
        "003 Phụ lục V row 68 (Quảng Bình)",
    ]
    assert rows["FM-03"].not_reproduced == "003 Phụ lục V row 51"
    assert rows["FM-01"].exchanges == 1
    assert rows["FM-01"].failures == {}  # a latency under the timeout slowed it, no more
    assert report.exchanges == 3
    assert report.outcomes == {"ok": 3}


def test_an_empty_answer_is_a_failure_of_its_mode_and_not_ok() -> None:
    quang_binh = "onestop-quang-binh"
    records = [
        record(0, consumer=quang_binh, injected_fault="empty_list:quang-binh-empty-lists"),
        record(1, consumer=quang_binh, injected_fault="empty_body:quang-binh-empty-details",
               contract_violations=["$"]),
        record(2, consumer=quang_binh),
    ]  # fmt: skip
    report = build_report(records, provinces=PROVINCES, run=reported_run())
    assert rows_of(report)["FM-03"].failures == {"empty_answer": 2}
    assert "FM-04" not in rows_of(report)  # the empty body's violation is FM-03's
    cell = report.cells[0]
    assert (cell.requests, cell.ok, cell.failures) == (3, 1, {"empty_answer": 2})


def test_a_wrong_value_is_a_failure_although_the_contract_holds() -> None:
    records = [
        record(0, provider="population", service="population.get_citizen",
               injected_fault="wrong_value:population-wrong-values"),
    ]  # fmt: skip
    fm04 = rows_of(build_report(records, provinces=PROVINCES, run=reported_run()))["FM-04"]
    assert fm04.failures == {"wrong_value": 1}
    assert fm04.violated_fields == {}
    assert fm04.citations == ["003 Phụ lục V row 72 (Đà Nẵng)"]


def test_failures_are_attributed_to_the_rule_whose_kind_causes_them() -> None:
    records = [
        record(0, injected_fault="latency:business-registry-slow, dangling_file:file-ids-dangling",
               service="business-registry.download_file", outcome="upstream_rejected",
               status_code=404),
        record(1, injected_fault="latency:business-registry-slow, drop_fields:file-ids-missing",
               service="business-registry.get_enterprise_dossier",
               contract_violations=["components[].file_id", "entity_name"]),
    ]  # fmt: skip
    report = build_report(records, provinces=PROVINCES, run=reported_run())
    rows = rows_of(report)
    assert rows["FM-01"].failures == {}
    assert rows["FM-01"].violated_fields == {}
    assert rows["FM-05"].failures == {"upstream_rejected": 1, "missing_fields": 1}
    assert rows["FM-05"].violated_fields == {"components[].file_id": 1}
    assert rows["FM-04"].rules == {}  # entity_name: no rule of the run removes it
    assert rows["FM-04"].violated_fields == {"entity_name": 1}
    by_rule = {row.rule_id: row for row in report.rules}
    assert by_rule["file-ids-dangling"].failures == {"upstream_rejected": 1}
    assert by_rule["business-registry-slow"].exchanges == 2


def test_a_failure_without_header_is_inferred_from_the_rules_that_match_it() -> None:
    hang = {
        "id": "bd-hangs",
        "failure_mode": "FM-01",
        "source": ["003 Phụ lục V row 51 (Bình Dương)"],
        "match": {"provider": "business-registry", "provinces": ["074"]},
        "fault": {"kind": "hang"},
    }
    run = one_rule_run(hang)
    provinces = {**PROVINCES, "onestop-binh-duong": "074"}
    timeout = {"outcome": "upstream_timeout", "status_code": 504}
    records = [record(0, consumer="onestop-binh-duong", **timeout), record(1, **timeout)]
    report = build_report(records, provinces=provinces, run=run)
    fm01 = rows_of(report)["FM-01"]
    assert fm01.failures == {"upstream_timeout": 2}
    assert fm01.rules == {"bd-hangs": 1}  # Thanh Hóa's timeout: no rule of the run matches it
    assert fm01.citations == ["003 Phụ lục V row 51 (Bình Dương)"]
    assert [(r.rule_id, r.inferred) for r in report.rules] == [("bd-hangs", 1)]


def test_failures_without_a_fault_header_or_a_run_count_by_outcome() -> None:
    records = [
        record(0, outcome="upstream_timeout", status_code=504),
        record(1, outcome="upstream_reset", status_code=502),
        record(2, outcome="provider_maintenance", status_code=503),
        record(3, contract_violations=["phone"]),
        record(4, outcome="quota_exceeded", status_code=429),
        record(5, outcome="upstream_rejected", status_code=404),
    ]
    report = build_report(records, provinces=PROVINCES)
    rows = rows_of(report)
    assert set(rows) == {"FM-01", "FM-02", "FM-04", "FM-11"}
    assert rows["FM-01"].timeout_rate == 1.0
    assert rows["FM-01"].failures == {"upstream_timeout": 1}
    assert rows["FM-11"].failures == {"provider_maintenance": 1}
    assert rows["FM-04"].violated_fields == {"phone": 1}
    assert rows["FM-04"].failures == {"contract_violation": 1}
    assert rows["FM-02"].citations == []  # no rule fired: nothing is claimed reproduced
    assert rows["FM-02"].not_reproduced == FAILURE_MODES["FM-02"].citation


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
    assert report.rules == []
    assert "No failure mode observed." in render_markdown(report)


def test_markdown_and_json_carry_the_citations() -> None:
    records = [record(0, injected_fault="latency:business-registry-slow")]
    report = build_report(records, provinces=PROVINCES, run=reported_run())
    markdown = render_markdown(report)
    assert "| FM-01 | timeouts, responses over 30 s | 1 |" in markdown
    assert "003 Phụ lục V row 20 (Thanh Hóa)" in markdown
    assert "| business-registry-slow | FM-01 | latency | 1 | 0 |" in markdown
    assert '"failure_mode": "FM-01"' in render_json(report)
    console = Console(record=True, width=250)
    render_table(report, console)
    assert "named by the reports, not reproduced" in console.export_text()


@pytest.mark.parametrize(
    ("values", "pct", "expected"),
    [([], 95, 0.0), ([5.0], 95, 5.0), ([float(v) for v in range(1, 101)], 95, 95.0),
     ([1.0, 2.0, 3.0, 4.0], 50, 2.0)],
)  # fmt: skip
def test_percentile_is_nearest_rank(values: list[float], pct: float, expected: float) -> None:
    assert percentile(values, pct) == expected
