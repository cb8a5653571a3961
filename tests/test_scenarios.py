"""The scenario catalogue: every shipped file loads and cites its reports; bad files are refused
with the file, the line and the field."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from contracts.catalogue import operations_of
from mock_services.failure_modes import APPENDIX_ROWS, cited_rows
from mock_services.fault_specs import DropFields, EmptyList, Latency, Maintenance, StaleStatus
from mock_services.scenarios import (
    SCENARIOS_DIR,
    Scenario,
    ScenarioError,
    find_scenario,
    load_catalogue,
    load_scenario_file,
    parse_scenario,
)

SHIPPED = sorted(SCENARIOS_DIR.glob("*.yaml"))
REQUIRED = {
    "baseline",
    "fm-01",
    "fm-02",
    "fm-03",
    "fm-04",
    "fm-05",
    "fm-06",
    "fm-10",
    "fm-11",
    "reported-2024",
}
# "003 Phụ lục V row 20 (Thanh Hóa)", "003 Phụ lục V rows 54–56 …", "000:L346–351", "001:L6359…"
CITATION = re.compile(r"^(00[0-4] Phụ lục V rows? \d+|00[0-4]:L\d+)")
VALID_HEAD = """\
id: {id}
title: A test scenario
description: Written by a test.
source: ["tests"]
rules:
"""


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_shipped_scenario_loads_and_is_named_after_its_file(path: Path) -> None:
    assert load_scenario_file(path).id == path.stem


def test_the_catalogue_has_baseline_each_failure_mode_and_reported_2024() -> None:
    catalogue = load_catalogue()
    assert catalogue.keys() >= REQUIRED
    assert catalogue["baseline"].rules == ()
    for mode in ("01", "02", "03", "04", "05", "06", "10", "11"):
        assert catalogue[f"fm-{mode}"].failure_modes == (f"FM-{mode}",)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_rule_names_its_failure_mode_and_cites_report_rows(path: Path) -> None:
    scenario = load_scenario_file(path)
    for citation in scenario.source:
        assert CITATION.match(citation), citation
    for rule in scenario.rules:
        assert rule.failure_mode, rule.id
        assert rule.source, rule.id
        assert all(CITATION.match(citation) for citation in rule.source), rule.id


@pytest.mark.parametrize("path", SHIPPED, ids=[p.stem for p in SHIPPED])
def test_every_cited_row_is_about_the_rules_database_and_province(path: Path) -> None:
    """The citation audit: a rule cites only rows about the database it acts on (or one it
    openly stands in for), and a rule kept to some provinces only rows those provinces wrote."""
    for rule in load_scenario_file(path).rules:
        for number in cited_rows(rule.source):
            row = APPENDIX_ROWS[number]
            about = row.providers | ({row.stand_in} if row.stand_in else set())
            assert rule.match.provider in about, (rule.id, number, row.system)
            if row.stand_in == rule.match.provider and not row.providers:
                assert all("stands in" in source for source in rule.source), rule.id
            if rule.match.provinces:
                assert row.province in rule.match.provinces, (rule.id, number, row.province)


def test_a_scenarios_sources_cover_the_rows_its_rules_cite() -> None:
    for scenario in load_catalogue().values():
        assert {n for r in scenario.rules for n in cited_rows(r.source)} <= cited_rows(
            scenario.source
        ), scenario.id


@pytest.fixture(scope="module")
def reported() -> Scenario:
    return find_scenario("reported-2024")


def test_reported_2024_shows_every_failure_mode_at_once(reported: Scenario) -> None:
    expected = ("FM-01", "FM-02", "FM-03", "FM-04", "FM-05", "FM-06", "FM-11")
    assert reported.failure_modes == expected


def _business_operations(kinds: tuple[str, ...]) -> set[str]:
    return {f"{prefix}{kind}" for kind in kinds for prefix in ("list_", "get_")}


def test_reported_2024_empties_6_of_the_9_business_apis_for_quang_binh(reported: Scenario) -> None:
    nine = {op.operation_id for op in operations_of("business-registry")} - {"download_file"}
    assert len(nine) == 9
    empty = {
        operation
        for rule in reported.rules
        if rule.match.provinces == ("044",) and rule.fault.kind in {"empty_list", "empty_body"}
        for operation in rule.match.operations
    }
    dossier_apis = {
        f"{verb}_{kind}_dossier{suffix}"
        for kind in ("enterprise", "household_business", "cooperative")
        for verb, suffix in (("list", "s"), ("get", ""))
    }
    assert empty == dossier_apis
    assert len(empty & nine) == 6


def test_reported_2024_fails_the_3_named_apis_for_binh_duong(reported: Scenario) -> None:
    (rule,) = [
        r
        for r in reported.rules
        if r.match.provinces == ("074",) and r.match.provider == "business-registry"
    ]
    assert rule.fault.kind == "http_error"
    assert set(rule.match.operations) == {
        "list_enterprise_dossiers",
        "get_enterprise_dossier",
        "get_household_business_dossier",
    }


def _dropped(scenario: Scenario, provider: str, operation: str) -> set[str]:
    return {
        field
        for rule in scenario.rules
        if rule.match.provider == provider
        and operation in rule.match.operations
        and isinstance(rule.fault, DropFields)
        for field in rule.fault.fields
    }


def test_reported_2024_drops_the_fields_the_provinces_named(reported: Scenario) -> None:
    seven = {
        "phone",
        "health_certificate_ref",
        "fees_collected",
        "current_administrative_unit",
        "result_date",
        "return_date",
        "result_file_id",
    }
    assert _dropped(reported, "driver-licence", "get_renewal_dossier") == seven
    assert _dropped(reported, "driver-licence", "list_renewal_dossiers") == {
        f"items[*].{field}" for field in seven
    }
    assert _dropped(reported, "population", "get_citizen") == {
        "phone",
        "id_card_issue_date",
        "father.date_of_birth",
        "mother.date_of_birth",
    }
    assert {"procedure_code", "procedure_name"} <= _dropped(
        reported, "business-registry", "get_cooperative_dossier"
    )
    assert {"components[*].file_id", "results[*].file_id"} <= _dropped(
        reported, "business-registry", "get_enterprise_dossier"
    )


def test_reported_2024_has_the_slow_tail_overload_resets_statuses_and_maintenance(
    reported: Scenario,
) -> None:
    kinds = {(rule.match.provider, rule.fault.kind) for rule in reported.rules}
    assert {
        ("business-registry", "latency"),
        ("business-registry", "hang"),
        ("business-registry", "dangling_file"),
        ("civil-registry", "overload"),
        ("civil-registry", "reset"),
        ("driver-licence", "stale_status"),
        ("business-registry", "stale_status"),
        ("judicial-records", "latency"),
        ("judicial-records", "overload"),
        ("judicial-records", "maintenance"),
    } <= kinds
    slows = [r.fault for r in reported.rules if isinstance(r.fault, Latency)]
    assert len(slows) == 2  # business registration everywhere, judicial records for Bình Dương
    for slow in slows:
        assert slow.p95_ms is not None
        assert slow.p95_ms > 30_000  # past the gateway's 30 s read timeout
    for stale in [r.fault for r in reported.rules if isinstance(r.fault, StaleStatus)]:
        assert set(stale.hidden_statuses) == {"paused", "rejected", "overdue"}
    (upkeep,) = [r.fault for r in reported.rules if isinstance(r.fault, Maintenance)]
    for window in upkeep.windows:  # business hours, on working days
        assert set(window.days) <= {"mon", "tue", "wed", "thu", "fri"}
        assert "08:00" <= window.start < window.end <= "17:30"


def test_empty_list_paths_of_shipped_scenarios_name_lists() -> None:
    for scenario in load_catalogue().values():
        for rule in scenario.rules:
            if isinstance(rule.fault, EmptyList):
                assert rule.match.operations, rule.id


# -- invalid files ------------------------------------------------------------------------


def _write(tmp_path: Path, name: str, rules: str) -> Path:
    path = tmp_path / f"{name}.yaml"
    path.write_text(VALID_HEAD.format(id=name) + rules, encoding="utf-8")
    return path


HEAD = ("  - id: r", "    match: {provider: population}")
DROP_PHONE = ("  - id: r", "    match: {provider: population, operations: [get_citizen]}")


@pytest.mark.parametrize(
    ("rules", "line", "field", "message"),
    [
        pytest.param(
            (*HEAD, "    fault: {kind: latency}"),
            8, "rules[0].fault", "fixed latency needs ms", id="missing-parameter",
        ),
        pytest.param(
            (*HEAD, "    fault: {kind: explode}"),
            8, "rules[0].fault", "explode", id="unknown-kind",
        ),
        pytest.param(
            (*HEAD, "    colour: red", "    fault: {kind: hang}"),
            8, "rules[0].colour", "Extra inputs", id="unknown-key",
        ),
        pytest.param(
            ("  - id: r", "    match:", "      provider: population",
             "      operations: [get_citizn]", "    fault: {kind: hang}"),
            9, "rules[0].match.operations[0]", "no operation 'get_citizn'", id="unknown-operation",
        ),
        pytest.param(
            (*DROP_PHONE, "    fault:", "      kind: drop_fields", "      fields:",
             "        - phone", "        - father.birthday"),
            12, "rules[0].fault.fields[1]", "no field 'birthday'", id="unknown-field-path",
        ),
        pytest.param(
            (*HEAD, "    fault: {kind: drop_fields, fields: [phone]}"),
            7, "rules[0].match.operations", "name the operations", id="body-fault-no-operations",
        ),
        pytest.param(
            ("  - id: r", "    match: {provider: population, provinces: ['999']}",
             "    fault: {kind: hang}"),
            7, "rules[0].match.provinces[0]", "not a province code", id="unknown-province",
        ),
        pytest.param(
            (*HEAD, "    probability: 1.5", "    fault: {kind: hang}"),
            8, "rules[0].probability", "less than or equal to 1", id="probability-above-1",
        ),
        pytest.param(
            (*HEAD, "    fault: {kind: hang}", *HEAD, "    fault: {kind: hang}"),
            9, "rules[1].id", "used twice", id="duplicate-rule-id",
        ),
        pytest.param(
            (*HEAD, "    fault:", "      kind: maintenance", "      windows:",
             "        - {start: 11:30, end: 08:00}"),
            11, "rules[0].fault.windows[0]", "must be before end", id="window-backwards",
        ),
        pytest.param(
            (*DROP_PHONE, "    fault: {kind: dangling_file}"),
            7, "rules[0].match.operations[0]", "download_file only", id="dangling-not-on-download",
        ),
        pytest.param(
            (*DROP_PHONE, "    fault: {kind: stale_status, frozen_at: received}"),
            7, "rules[0].match.operations[0]", "civil-registry", id="stale-not-on-registrations",
        ),
        pytest.param(
            ("  - id: r", "    match: {provider: civil-registry}", "    probability: 0.5",
             "    fault: {kind: overload, max_concurrent: 2}"),
            6, "rules[0]", "capacity, not a draw", id="overload-with-probability",
        ),
        pytest.param(
            ("  - id: r", "    match: {provider: police}", "    fault: {kind: hang}"),
            7, "rules[0].match.provider", "population", id="unknown-provider",
        ),
        pytest.param(
            ("  - id: r", "    failure_mode: FM-17", *HEAD[1:], "    fault: {kind: hang}"),
            7, "rules[0].failure_mode", "not a failure mode of REPORTS.md",
            id="failure-mode-not-in-catalogue",
        ),
        pytest.param(
            (*DROP_PHONE, "    fault:", "      kind: wrong_value",
             "      values: {marital_status: complicated}"),
            10, "rules[0].fault.values.marital_status", "breaks the contract",
            id="wrong-value-breaks-the-contract",
        ),
        pytest.param(
            (*HEAD, "    fault: {kind: sandbox_window}"),
            6, "rules[0]", "only with match.hop: gateway", id="gateway-kind-at-the-database",
        ),
        pytest.param(
            ("  - id: r", "    match: {provider: population, hop: gateway}",
             "    fault: {kind: hang}"),
            6, "rules[0]", "the gateway applies only sandbox_window", id="hang-at-the-gateway",
        ),
        pytest.param(
            ("  - id: r", "    match: {provider: population, hop: gateway}",
             "    fault: {kind: sandbox_window}"),
            6, "rules[0]", "give match.during", id="gateway-rule-without-window",
        ),
    ],
)  # fmt: skip
def test_an_invalid_file_is_refused_with_file_line_and_field(
    tmp_path: Path, rules: tuple[str, ...], line: int, field: str, message: str
) -> None:
    path = _write(tmp_path, "broken", "\n".join(rules) + "\n")
    with pytest.raises(ScenarioError) as refused:
        load_scenario_file(path)
    (issue,) = refused.value.issues
    assert (issue.origin, issue.line, issue.field) == (str(path), line, field)
    assert message in issue.message
    assert str(refused.value).startswith(f"{path}:{line}: {field}: ")


def test_every_problem_of_a_file_is_reported_at_once(tmp_path: Path) -> None:
    rules = "\n".join(
        ("  - id: a", "    match: {provider: population}", "    fault: {kind: latency}",
         "  - id: b", "    match: {provider: population, provinces: ['999']}",
         "    fault: {kind: hang}", "")
    )  # fmt: skip
    with pytest.raises(ScenarioError) as refused:
        load_scenario_file(_write(tmp_path, "two", rules))
    assert [(i.line, i.field) for i in refused.value.issues] == [
        (8, "rules[0].fault"),
        (10, "rules[1].match.provinces[0]"),
    ]


def test_a_missing_key_is_named_at_the_line_of_its_object(tmp_path: Path) -> None:
    path = tmp_path / "partial.yaml"
    path.write_text("id: partial\ntitle: T\nsource: []\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as refused:
        load_scenario_file(path)
    (issue,) = refused.value.issues
    assert (issue.line, issue.field) == (1, "description")


def test_unquoted_times_of_day_are_read_as_times_not_base_60_numbers(tmp_path: Path) -> None:
    rules = (
        "  - id: r\n    match: {provider: population}\n    fault:\n      kind: maintenance\n"
        "      windows:\n        - {days: [mon], start: 08:00, end: 11:30}\n"
    )
    (window,) = load_scenario_file(_write(tmp_path, "times", rules)).rules[0].fault.windows  # type: ignore[union-attr]
    assert (window.start, window.end) == ("08:00", "11:30")


def test_a_scenario_must_be_named_after_its_file(tmp_path: Path) -> None:
    path = tmp_path / "one-name.yaml"
    path.write_text(VALID_HEAD.format(id="another-name") + "  []\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as refused:
        load_scenario_file(path)
    (issue,) = refused.value.issues
    assert (issue.line, issue.field) == (1, "id")


def test_broken_yaml_is_refused_with_its_line(tmp_path: Path) -> None:
    path = _write(tmp_path, "garbled", "  - id: r\n    match: {provider: population\n")
    with pytest.raises(ScenarioError) as refused:
        load_scenario_file(path)
    (issue,) = refused.value.issues
    assert issue.line is not None
    assert issue.line >= 7
    assert "not valid YAML" in issue.message


def test_a_scenario_with_rules_must_cite_its_reports(tmp_path: Path) -> None:
    path = tmp_path / "uncited.yaml"
    path.write_text(
        "id: uncited\ntitle: T\ndescription: D\nrules:\n"
        "  - id: r\n    match: {provider: population}\n    fault: {kind: hang}\n",
        encoding="utf-8",
    )
    with pytest.raises(ScenarioError, match="cites the report rows"):
        load_scenario_file(path)


def test_json_scenarios_get_the_same_checks_without_lines() -> None:
    data = {
        "id": "sent",
        "title": "T",
        "description": "D",
        "source": ["tests"],
        "rules": [{"id": "r", "match": {"provider": "population"}, "fault": {"kind": "latency"}}],
    }
    with pytest.raises(ScenarioError) as refused:
        parse_scenario(data, origin="PUT /_faults/scenario")
    (issue,) = refused.value.issues
    assert (issue.origin, issue.line, issue.field) == (
        "PUT /_faults/scenario",
        None,
        "rules[0].fault",
    )


def test_a_scenario_survives_a_round_trip_through_json() -> None:
    scenario = find_scenario("reported-2024")
    assert parse_scenario(scenario.model_dump(mode="json")) == scenario


def test_find_scenario_by_name_or_path_and_lists_the_choices_when_unknown(tmp_path: Path) -> None:
    assert find_scenario("baseline").id == "baseline"
    assert find_scenario(str(SCENARIOS_DIR / "fm-03.yaml")).id == "fm-03"
    with pytest.raises(ScenarioError, match=r"choose one of .*reported-2024"):
        find_scenario("fm-99")


def test_loading_a_folder_reports_every_bad_file(tmp_path: Path) -> None:
    _write(tmp_path, "good", "  []\n")
    _write(
        tmp_path, "bad-one", "  - id: r\n    match: {provider: police}\n    fault: {kind: hang}\n"
    )
    _write(tmp_path, "bad-two", "  - id: r\n    match: {provider: population}\n    fault: {}\n")
    with pytest.raises(ScenarioError) as refused:
        load_catalogue(tmp_path)
    assert {Path(issue.origin).stem for issue in refused.value.issues} == {"bad-one", "bad-two"}
