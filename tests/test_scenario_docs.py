"""The README's scenario catalogue and fault-kind reference are generated from the files and
the classes; the demo lines it shows meet a fault under the scenario they name."""

from __future__ import annotations

import re

import pytest

from mock_services.fault_kinds import KIND_CLASSES
from mock_services.scenario_docs import COMMAND, README, kinds_block, render, rule_line
from mock_services.scenarios import find_scenario, load_catalogue

README_TEXT = README.read_text(encoding="utf-8")
# The national databases each demo flow calls (connectors/flows/*.py, their "Hops:").
FLOW_PROVIDERS = {
    "licence-renewal": {"driver-licence", "population"},
    "birth-registration": {"population", "civil-registry"},
    "business-sync": {"business-registry"},
    "household-verification": {"population"},
}
DEMO = re.compile(
    r"ndxp-sim demo (?P<flow>[a-z-]+) --province (?P<province>\"[^\"]+\"|\S+)"
    r"(?: --step)? --scenario (?P<scenario>\S+)"
)


def test_the_readme_blocks_are_what_the_files_and_classes_generate() -> None:
    _, changed = render(README_TEXT)
    assert changed == [], f"README out of date: {changed} — run `{COMMAND}`"


def test_a_changed_scenario_number_shows_as_a_stale_readme() -> None:
    fm01 = find_scenario("fm-01")
    slow = fm01.rules[0]
    assert rule_line(slow) in README_TEXT
    faster = slow.model_copy(update={"fault": slow.fault.model_copy(update={"p50_ms": 2500.0})})
    assert rule_line(faster) not in README_TEXT


def test_the_reference_names_every_kind_with_its_phase() -> None:
    block = kinds_block()
    for kind, cls in KIND_CLASSES.items():
        assert f"| `{kind}` |" in block
        assert cls.failure_mode in block


def test_each_readme_demo_line_meets_a_fault_of_its_scenario() -> None:
    from connectors.provinces import find_system
    from ndxp_config.settings import Settings

    demos = list(DEMO.finditer(README_TEXT))
    assert demos, "the README shows no demo with --scenario"
    catalogue = load_catalogue()
    for demo in demos:
        flow, scenario = demo["flow"], catalogue[demo["scenario"]]
        province = find_system(Settings(), demo["province"].strip('"')).province.code
        meets = [
            rule.id
            for rule in scenario.rules
            if rule.match.provider in FLOW_PROVIDERS[flow]
            and (not rule.match.provinces or province in rule.match.provinces)
            and not rule.match.during
            and rule.probability > 0
        ]
        assert meets, f"`{demo[0]}` meets no rule of {scenario.id}"


@pytest.mark.parametrize("name", ["scenarios", "fault-kinds"])
def test_a_missing_block_is_named(name: str) -> None:
    without = re.sub(rf"<!-- BEGIN generated: {name}.*?END generated: {name} -->", "", README_TEXT,
                     flags=re.S)  # fmt: skip
    with pytest.raises(ValueError, match=name):
        render(without)
