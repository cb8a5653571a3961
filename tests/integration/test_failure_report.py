"""Issues 4 and 14's acceptance: traffic through the real gateway to the real mocks (OS
processes, real sockets) shows, for each failure mode of the catalogue
(:data:`mock_services.failure_modes.FAILURE_MODES`), its scenario ``scenarios/fm-NN.yaml``
observed in ``ndxp-sim report`` with a non-zero count and exactly the citations of the rules
that fired — table-driven, so a failure mode added to the catalogue is checked as soon as it
is there, and fails by name while its scenario file is missing; ``reported-2024`` shows every
failure mode it lists; ``baseline`` shows none; a fixed seed gives the same fault sequence
twice. Traffic for a scenario is read from its rules (:mod:`tests.integration.fm_traffic`).

The simulation runs at one time scale (``NDXP_TIME_SCALE`` 0.02): injected waits and the
gateway's timeouts shrink together. The registry's read timeout is 105 s here (→ 2.1 s), with
a margin on both sides: the longest injected latency (cap 90 s → 1.8 s) never times out, every
injected hang (120 s → 2.4 s) always does — so timeouts are decided by the seeded draws, not by
the machine's speed.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from contracts.exchange import ExchangeRecord
from gateway.registry import Timeouts
from mock_services import business_registry, civil_registry, driver_licence, population
from mock_services.failure_modes import FAILURE_MODES
from mock_services.fault_specs import Rule
from mock_services.scenarios import SCENARIOS_DIR, Scenario, find_scenario, load_scenario_file
from ndxp_sim.report import Report
from ndxp_sim.report_output import render_markdown, report_from_gateway
from ndxp_sim.testing import Stack, registry_env, running_stack
from tests.integration.fm_traffic import drive, moment

pytestmark = pytest.mark.integration

SEED = 2024
TIMEOUTS = Timeouts(connect_s=50.0, read_s=105.0, total_s=105.0)  # x 0.02: 1 s, 2.1 s
THANH_HOA, QUANG_BINH, BINH_DUONG = "thanh-hoa", "quang-binh", "binh-duong"
CODES = {THANH_HOA: "038", QUANG_BINH: "044", BINH_DUONG: "074"}
REPORTED_2024 = find_scenario("reported-2024")
REPORTED = set(REPORTED_2024.failure_modes)
# The modes the hand-written rounds below drive; reported-2024's others get fm_traffic's.
HAND_DRIVEN = {"FM-01", "FM-02", "FM-03", "FM-04", "FM-05", "FM-06", "FM-11"}
TUESDAY_MORNING = "2024-06-04T09:00:00+07:00"
MONDAY_MORNING = "2024-06-03T09:00:00+07:00"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    root = tmp_path_factory.mktemp("failure-report")
    env = {
        **registry_env(root, TIMEOUTS),
        "NDXP_TIME_SCALE": "0.02",
        "NDXP_MOCKS__LIFECYCLE_MINUTE_S": "0.002",
        "NDXP_MOCKS__SEED": str(SEED),
    }
    with running_stack(root / "state", env) as running:
        yield running


class Province:
    """One provincial one-stop system calling through the gateway, sequentially."""

    def __init__(self, stack: Stack, slug: str) -> None:
        self.code = CODES[slug]
        self.client = httpx.Client(base_url=stack.gateway_url, timeout=30.0)
        token = self.client.post(
            "/oauth2/token",
            data={
                "grant_type": "client_credentials",
                "client_id": f"onestop-{slug}",
                "client_secret": f"dev-secret-{slug}",
            },
        )
        token.raise_for_status()
        self.client.headers["Authorization"] = f"Bearer {token.json()['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        response = self.client.request(method, path, **kwargs)
        assert "x-ndxp-injected-fault" not in response.headers  # the gateway strips it
        return response

    def close(self) -> None:
        self.client.close()


def _examples() -> dict[str, Any]:
    found: dict[str, Any] = {}
    for module in (population, business_registry, driver_licence, civil_registry):
        found.update(module.examples(SEED))
    return found


EXAMPLES = _examples()


def business_round(p: Province) -> None:
    """Every business-registry API, for the province's own dossiers."""
    for kind, prefix in (
        ("enterprise", "DN"),
        ("household-business", "HKD"),
        ("cooperative", "HTX"),
    ):
        query = {**EXAMPLES["list_enterprise_dossiers"].query, "province": p.code}
        p.call("GET", f"/business-registry/v1/{kind}-dossiers", params=query)
        p.call("GET", f"/business-registry/v1/{kind}-dossiers/{prefix}-{p.code}-20240603-00000")
    for i in range(4):
        p.call("GET", f"/business-registry/v1/files/DN-{p.code}-20240603-{i:05d}-result-01")


def lookup_round(p: Province) -> None:
    p.call("GET", f"/population/v1/citizens/{EXAMPLES['get_citizen'].path_params['personal_id']}")
    body = EXAMPLES["verify_citizen"].body.model_dump(mode="json")
    p.call("POST", "/population/v1/citizens/verify", json=body)
    query = {**EXAMPLES["list_renewal_dossiers"].query, "province": p.code}
    p.call("GET", "/driver-licence/v1/renewal-dossiers", params=query)
    p.call("GET", f"/driver-licence/v1/renewal-dossiers/GPLX-{p.code}-20240603-00000")


def civil_round(p: Province, first: int, count: int) -> list[str]:
    """Submit ``count`` births, read each back and sync the status changes."""
    birth = EXAMPLES["submit_birth_registration"].body
    ids = []
    for n in range(first, first + count):
        body = birth.model_copy(update={"dossier_code": f"000.00.38.H56-241230-{n:04d}"})
        response = p.call(
            "POST", "/civil-registry/v1/birth-registrations", json=body.model_dump(mode="json")
        )
        if response.status_code in (200, 201):
            ids.append(response.json()["registration_id"])
    for registration_id in ids:
        p.call("GET", f"/civil-registry/v1/registrations/{registration_id}")
    p.call("GET", "/civil-registry/v1/status-changes", params={"since": "2024-01-01T00:00:00Z"})
    return ids


def switch(stack: Stack, name: str, **extra: Any) -> dict[str, Any]:
    response = httpx.put(
        f"{stack.gateway_url}/admin/scenario",
        json={"name": name, **extra},
        headers=stack.admin_headers,
        timeout=30.0,
    )
    assert response.status_code == 200, response.text
    run: dict[str, Any] = response.json()
    return run


def set_clock(stack: Stack, at: str | None) -> None:
    response = httpx.put(
        f"{stack.gateway_url}/admin/clock", json={"at": at}, headers=stack.admin_headers
    )
    assert response.status_code == 200, response.text


def report(stack: Stack, run_id: str) -> Report:
    """The run's report, with the route hops' logs (where a failure at the LGSP arose)."""
    hops = {"lgsp": stack.lgsp_url, "vdxp": stack.vdxp_url}
    return report_from_gateway(stack.gateway_url, stack.admin_token, run_id=run_id, hops=hops)


def test_reported_2024_shows_every_failure_mode_with_its_citation(stack: Stack) -> None:
    run = switch(stack, "reported-2024", at=MONDAY_MORNING)
    assert set(run["failure_modes"]) == REPORTED
    provinces = {slug: Province(stack, slug) for slug in CODES}
    try:
        for _ in range(2):
            for p in provinces.values():
                business_round(p)
                lookup_round(p)
        civil_round(provinces[THANH_HOA], first=100, count=12)
        civil_round(provinces[THANH_HOA], first=100, count=12)  # later: statuses have moved
        others = tuple(r for r in REPORTED_2024.rules if mode_of(r) not in HAND_DRIVEN)
        assert not asyncio.run(
            drive(stack.settings, REPORTED_2024.model_copy(update={"rules": others}))
        )
        set_clock(stack, TUESDAY_MORNING)  # judicial records' upgrades, Tue/Thu 08:00–11:30
        during = provinces[THANH_HOA].call(
            "GET", "/judicial-records/v1/certificate-requests/LT0380000000001"
        )
        assert during.status_code == 503
        assert during.json()["code"] == "provider_maintenance"
        assert int(during.headers["retry-after"]) > 0
    finally:
        for p in provinces.values():
            p.close()

    result = report(stack, run["run_id"])
    rows = {row.failure_mode: row for row in result.failure_modes}
    assert set(rows) == REPORTED, result.model_dump_json(indent=1)
    document = find_scenario("reported-2024")
    sources = {rule.id: set(rule.source) for rule in document.rules}
    for mode in REPORTED:
        assert rows[mode].exchanges > 0
        assert sum(rows[mode].failures.values()) > 0, rows[mode]
        assert rows[mode].rules, rows[mode]  # a rule of the run explains it
        fired = set().union(*(sources[rule_id] for rule_id in rows[mode].rules))
        assert set(rows[mode].citations) == fired  # claims nothing its rules did not cite
        assert any("003 Phụ lục V" in c for c in rows[mode].citations), rows[mode]
    assert rows["FM-01"].failures.get("upstream_timeout", 0) > 0
    assert rows["FM-01"].p95_ms > 0
    assert "row 20 (Thanh Hóa)" in " ".join(rows["FM-01"].citations)
    assert {"upstream_reset"} <= set(rows["FM-02"].failures)
    assert {"044", "074"} <= set(rows["FM-03"].provinces)
    assert rows["FM-03"].failures.get("empty_answer", 0) > 0  # empty answers are failures
    assert set(rows["FM-01"].failures) == {"upstream_timeout"}  # not FM-05's 404s
    # The example citizen's parents are not in the database (null): only these two can go.
    assert {"phone", "id_card_issue_date"} <= set(rows["FM-04"].violated_fields)
    assert {"fees_collected", "result_file_id"} <= set(rows["FM-04"].violated_fields)
    assert rows["FM-11"].failures == {"provider_maintenance": rows["FM-11"].exchanges}
    assert rows["FM-11"].citations == ["003 Phụ lục V row 62 (Ninh Thuận)"]  # judicial records
    assert rows["FM-11"].not_reproduced == "003 Phụ lục V row 29"  # the land system

    cells = {(c.province, c.provider): c for c in result.cells}
    binh_duong = cells["074", "business-registry"]
    assert binh_duong.failures.get("upstream_error", 0) > 0
    assert "FM-03" in binh_duong.failure_modes
    quang_binh = cells["044", "business-registry"]
    assert "FM-03" in quang_binh.failure_modes
    assert quang_binh.failures.get("empty_answer", 0) > 0
    assert quang_binh.ok + sum(quang_binh.failures.values()) == quang_binh.requests
    assert "FM-03" not in cells["038", "business-registry"].failure_modes
    assert cells["038", "judicial-records"].failures.get("provider_maintenance") == 1

    markdown = render_markdown(result)
    for mode in REPORTED:
        assert f"| {mode} |" in markdown


def mode_of(rule: Rule) -> str:
    return rule.failure_mode or rule.fault.failure_mode


def scenario_of(mode: str) -> Scenario:
    """``scenarios/fm-NN.yaml``, the failure mode's own scenario; a missing one fails by name."""
    path = SCENARIOS_DIR / f"{mode.lower()}.yaml"
    if not path.is_file():
        pytest.fail(
            f"{mode} ({FAILURE_MODES[mode].title}) is in the catalogue but has no scenario file "
            f"scenarios/{path.name}: add it, with rules citing the rows that name {mode}",
            pytrace=False,
        )
    return load_scenario_file(path)


@pytest.mark.parametrize("mode", sorted(FAILURE_MODES))
def test_each_failure_mode_of_the_catalogue_is_observed_with_its_rules_citations(
    stack: Stack, mode: str
) -> None:
    scenario = scenario_of(mode)
    assert mode in {mode_of(rule) for rule in scenario.rules}, f"{scenario.id} has no {mode} rule"
    at = moment(scenario)
    run = switch(stack, scenario.id, **({"at": at} if at else {}))
    undriven = asyncio.run(drive(stack.settings, scenario))
    assert not undriven, undriven
    result = report(stack, run["run_id"])
    rows = {row.failure_mode: row for row in result.failure_modes}
    assert mode in rows, f"{scenario.id}: {mode} never observed; saw {sorted(rows)}"
    row = rows[mode]
    assert row.exchanges > 0, row
    assert sum(row.failures.values()) > 0, row  # spoiled answers count as failures too
    assert row.rules, row  # a rule of the run explains it...
    own = {rule.id: rule for rule in scenario.rules}
    assert set(row.rules) <= set(own), row.rules  # ...a rule of this scenario...
    assert {mode_of(own[rule_id]) for rule_id in row.rules} == {mode}  # ...of this mode
    fired = set().union(*(set(own[rule_id].source) for rule_id in row.rules))
    assert row.citations, row
    assert set(row.citations) == fired  # claims nothing its rules did not cite
    switch(stack, "baseline")  # closes the run


def test_report_command_prints_the_run_in_each_format(stack: Stack) -> None:
    switch(stack, "fm-03")
    p = Province(stack, QUANG_BINH)
    try:
        business_round(p)
    finally:
        p.close()
    outputs = {}
    for fmt in ("json", "md", "table"):
        done = subprocess.run(
            [sys.executable, "-m", "ndxp_sim", "report", "--format", fmt],
            env={**stack.env, "COLUMNS": "200"},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        outputs[fmt] = done.stdout
    data = json.loads(outputs["json"])
    assert data["scenario"] == "fm-03"
    assert [row["failure_mode"] for row in data["failure_modes"]] == ["FM-03"]
    assert "| FM-03 |" in outputs["md"]
    assert "FM-03" in outputs["table"]
    assert "Quảng Bình" in outputs["table"]


def test_baseline_shows_no_failure_mode(stack: Stack) -> None:
    run = switch(stack, "baseline")
    provinces = {slug: Province(stack, slug) for slug in CODES}
    try:
        for p in provinces.values():
            business_round(p)
            lookup_round(p)
        civil_round(provinces[THANH_HOA], first=500, count=4)
    finally:
        for p in provinces.values():
            p.close()
    result = report(stack, run["run_id"])
    assert result.exchanges > 40
    assert result.failure_modes == []
    assert {c.provider for c in result.cells} == {
        "population",
        "business-registry",
        "driver-licence",
        "civil-registry",
    }


def _fault_sequence(stack: Stack, run_id: str) -> list[tuple[str | None, str, str | None]]:
    run = httpx.get(f"{stack.gateway_url}/admin/runs/{run_id}", headers=stack.admin_headers)
    since = run.json()["started_at"]
    until = run.json()["ended_at"] or datetime.now(UTC).isoformat()
    export = httpx.get(
        f"{stack.gateway_url}/admin/exchanges/export",
        params={"since": since, "until": until},
        headers=stack.admin_headers,
        timeout=30.0,
    )
    records = [ExchangeRecord.model_validate_json(line) for line in export.text.splitlines()]
    return [(r.service, r.outcome, r.injected_fault) for r in records]


def test_a_fixed_seed_gives_the_same_fault_sequence_twice(stack: Stack) -> None:
    runs = []
    for _ in range(2):
        runs.append(switch(stack, "reported-2024", seed=7, at=MONDAY_MORNING)["run_id"])
        provinces = [Province(stack, slug) for slug in CODES]
        try:
            for p in provinces:
                business_round(p)
                lookup_round(p)
        finally:
            for p in provinces:
                p.close()
    switch(stack, "baseline")  # closes the second run
    first, second = (_fault_sequence(stack, run_id) for run_id in runs)
    assert len(first) > 40
    assert sum(fault is not None for _, _, fault in first) > 10
    assert first == second
