"""``ndxp-sim contracts diff``: every change between two OpenAPI documents, classified by a
stated rule — on the committed v1 → v2 of population and driver licences, and on small
documents written here, one rule each."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from contracts.published import OPENAPI_DIR
from ndxp_sim.cli import app
from ndxp_sim.contract_diff import RULES, RULES_BY_ID, Change, diff_documents

runner = CliRunner()


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((OPENAPI_DIR / name).read_text(encoding="utf-8"))
    return doc


def _found(changes: list[Change]) -> set[tuple[str, str, str, str]]:
    return {(c.severity, c.rule, c.operation, c.where) for c in changes}


def test_population_v1_to_v2_finds_and_classifies_every_change() -> None:
    changes = diff_documents(_load("population.yaml"), _load("population.v2.yaml"))
    lookup, verify = "GET /citizens/{personal_id}", "POST /citizens/verify"
    assert _found(changes) == {
        ("breaking", "response-field-renamed", lookup, "response 200: id_card_issue_date"),
        ("breaking", "type-changed", lookup, "response 200: date_of_birth"),
        ("breaking", "type-changed", lookup, "response 200: father.date_of_birth"),
        ("breaking", "type-changed", lookup, "response 200: mother.date_of_birth"),
        ("breaking", "enum-widened", lookup, "response 200: household.relationship_to_head"),
        ("breaking", "request-field-required-added", verify, "request body: procedure_code"),
        ("non-breaking", "response-field-added", lookup, "response 200: electronic_id_level"),
    }
    renamed = next(c for c in changes if c.rule == "response-field-renamed")
    assert renamed.detail == "renamed → id_card_issued_on"
    widened = next(c for c in changes if c.rule == "enum-widened")
    assert widened.detail == "enum values added: grandchild, other"
    # breaking first
    assert [c.severity for c in changes] == sorted((c.severity for c in changes), key="b".__ne__)


def test_driver_licence_v1_to_v2_finds_and_classifies_every_change() -> None:
    changes = diff_documents(_load("driver-licence.yaml"), _load("driver-licence.v2.yaml"))
    licence, page = "GET /licences/{licence_number}", "GET /renewal-dossiers"
    dossier = "GET /renewal-dossiers/{dossier_id}"
    assert _found(changes) == {
        ("breaking", "response-field-renamed", licence, "response 200: issuing_authority"),
        ("breaking", "enum-widened", licence, "response 200: classes[].licence_class"),
        ("non-breaking", "response-field-added", licence, "response 200: points"),
        ("breaking", "type-changed", dossier, "response 200: fees_collected"),
        ("breaking", "type-changed", page, "response 200: items[].fees_collected"),
    }
    fees = next(c for c in changes if c.operation == dossier)
    assert fees.detail == "integer → array"


def test_a_contract_compared_with_itself_has_no_change() -> None:
    for name in ("population.yaml", "driver-licence.v2.yaml", "civil-registry.yaml"):
        assert diff_documents(_load(name), _load(name)) == [], name


def test_keeping_the_version_segment_pairs_nothing_across_versions() -> None:
    changes = diff_documents(
        _load("population.yaml"), _load("population.v2.yaml"), strip_version=False
    )
    assert {c.rule for c in changes} == {"operation-removed", "operation-added"}
    assert sum(c.rule == "operation-removed" for c in changes) == 4


# -- one rule at a time, on a small document ------------------------------------------------


def _doc(response: dict[str, Any], request: dict[str, Any] | None = None) -> dict[str, Any]:
    post: dict[str, Any] = {
        "responses": {"200": {"content": {"application/json": {"schema": response}}}},
        "parameters": [
            {"name": "q", "in": "query", "required": False, "schema": {"type": "string"}}
        ],
    }
    if request is not None:
        post["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": request}},
        }
    return {"openapi": "3.1.0", "paths": {"/v1/things": {"post": post}}}


def _obj(props: dict[str, Any], required: list[str], **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": required, **extra}


STR, INT = {"type": "string"}, {"type": "integer"}


def _only(old: dict[str, Any], new: dict[str, Any]) -> Change:
    changes = diff_documents(old, new)
    assert len(changes) == 1, changes
    return changes[0]


def test_removed_response_field_is_breaking() -> None:
    old = _doc(_obj({"a": STR, "b": INT}, ["a", "b"]))
    new = _doc(_obj({"a": STR}, ["a"]))
    assert _only(old, new).rule == "response-field-removed"


def test_optional_response_field_added_is_not_breaking() -> None:
    old = _doc(_obj({"a": STR}, ["a"]))
    new = _doc(_obj({"a": STR, "b": {"anyOf": [INT, {"type": "null"}]}}, ["a"]))
    change = _only(old, new)
    assert (change.rule, change.severity) == ("response-field-added", "non-breaking")


def test_type_change_is_breaking_both_ways() -> None:
    response = _only(_doc(_obj({"a": INT}, ["a"])), _doc(_obj({"a": STR}, ["a"])))
    request = _only(_doc(STR, _obj({"a": INT}, ["a"])), _doc(STR, _obj({"a": STR}, ["a"])))
    assert response.rule == request.rule == "type-changed"
    assert response.severity == request.severity == "breaking"
    assert request.where == "request body: a"


def test_new_required_request_field_breaks_an_optional_one_does_not() -> None:
    old = _doc(STR, _obj({"a": STR}, ["a"]))
    required = _only(old, _doc(STR, _obj({"a": STR, "b": STR}, ["a", "b"])))
    optional = _only(old, _doc(STR, _obj({"a": STR, "b": STR}, ["a"])))
    assert (required.rule, required.severity) == ("request-field-required-added", "breaking")
    assert (optional.rule, optional.severity) == ("request-field-optional-added", "non-breaking")


def test_enum_direction_depends_on_the_side() -> None:
    small, big = {"type": "string", "enum": ["x"]}, {"type": "string", "enum": ["x", "y"]}
    in_response = _only(_doc(_obj({"a": small}, ["a"])), _doc(_obj({"a": big}, ["a"])))
    in_request = _only(_doc(STR, _obj({"a": small}, ["a"])), _doc(STR, _obj({"a": big}, ["a"])))
    assert (in_response.rule, in_response.severity) == ("enum-widened", "breaking")
    assert (in_request.rule, in_request.severity) == ("enum-narrowed", "non-breaking")
    removed = _only(_doc(STR, _obj({"a": big}, ["a"])), _doc(STR, _obj({"a": small}, ["a"])))
    assert (removed.rule, removed.severity) == ("enum-widened", "breaking")


def test_a_single_literal_const_compares_as_an_enum() -> None:
    old = _doc(_obj({"a": {"type": "string", "const": "x"}}, ["a"]))
    new = _doc(_obj({"a": {"type": "string", "enum": ["x", "y"]}}, ["a"]))
    assert _only(old, new).detail == "enum values added: y"


def test_response_field_becoming_nullable_or_optional_is_breaking() -> None:
    old = _doc(_obj({"a": STR}, ["a"]))
    nullable = _only(old, _doc(_obj({"a": {"anyOf": [STR, {"type": "null"}]}}, ["a"])))
    optional = _only(old, _doc(_obj({"a": STR}, [])))
    assert (nullable.rule, nullable.severity) == ("constraint-widened", "breaking")
    assert (optional.rule, optional.severity) == ("response-field-now-optional", "breaking")


def test_bounds_tightened_break_requests_not_responses() -> None:
    loose, tight = {"type": "string", "maxLength": 10}, {"type": "string", "maxLength": 5}
    request = _only(_doc(STR, _obj({"a": loose}, ["a"])), _doc(STR, _obj({"a": tight}, ["a"])))
    response = _only(_doc(_obj({"a": loose}, ["a"])), _doc(_obj({"a": tight}, ["a"])))
    assert (request.rule, request.severity) == ("constraint-widened", "breaking")
    assert (response.rule, response.severity) == ("constraint-narrowed", "non-breaking")


def test_removed_request_field_breaks_only_a_closed_object() -> None:
    old = _doc(STR, _obj({"a": STR, "b": STR}, ["a"], additionalProperties=False))
    closed = _only(old, _doc(STR, _obj({"a": STR}, ["a"], additionalProperties=False)))
    opened = _only(old, _doc(STR, _obj({"a": STR}, ["a"])))
    assert (closed.rule, closed.severity) == ("request-field-removed", "breaking")
    assert (opened.rule, opened.severity) == ("request-field-removed-open", "non-breaking")


def test_parameters_and_operations() -> None:
    old = _doc(STR)
    new = copy.deepcopy(old)
    new["paths"]["/v1/things"]["post"]["parameters"].append(
        {"name": "province", "in": "query", "required": True, "schema": STR}
    )
    assert _only(old, new).rule == "parameter-required-added"
    gone = {"openapi": "3.1.0", "paths": {}}
    removed = _only(old, gone)
    added = _only(gone, old)
    assert (removed.rule, removed.severity, removed.operation) == (
        "operation-removed",
        "breaking",
        "POST /things",
    )
    assert (added.rule, added.severity) == ("operation-added", "non-breaking")


def test_refs_are_followed_on_each_side() -> None:
    def with_ref(schema: dict[str, Any]) -> dict[str, Any]:
        doc = _doc({"$ref": "#/components/schemas/Thing"})
        doc["components"] = {"schemas": {"Thing": schema}}
        return doc

    change = _only(with_ref(_obj({"a": INT}, ["a"])), with_ref(_obj({"a": STR}, ["a"])))
    assert (change.rule, change.where) == ("type-changed", "response 200: a")


def test_every_rule_is_stated_with_its_class() -> None:
    assert len(RULES_BY_ID) == len(RULES)
    assert {rule.severity for rule in RULES} == {"breaking", "non-breaking"}
    assert all(rule.change for rule in RULES)


# -- the command ---------------------------------------------------------------------------


def test_command_exits_1_on_breaking_changes_and_prints_json() -> None:
    result = runner.invoke(
        app,
        ["contracts", "diff", str(OPENAPI_DIR / "population.yaml"),
         str(OPENAPI_DIR / "population.v2.yaml"), "--json"],
    )  # fmt: skip
    assert result.exit_code == 1, result.output
    data = json.loads(result.output)
    assert data["breaking"] == 6
    assert data["non_breaking"] == 1
    assert {c["rule"] for c in data["changes"]} >= {"response-field-renamed", "type-changed"}


def test_command_exits_0_without_breaking_changes_or_with_fail_on_none() -> None:
    same = str(OPENAPI_DIR / "population.yaml")
    assert runner.invoke(app, ["contracts", "diff", same, same]).exit_code == 0
    v2 = str(OPENAPI_DIR / "population.v2.yaml")
    table = runner.invoke(app, ["contracts", "diff", same, v2, "--fail-on", "none"])
    assert table.exit_code == 0, table.output
    assert "6 breaking, 1 non-breaking" in table.output


def test_command_says_why_a_document_cannot_be_read(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("just: text\n", encoding="utf-8")
    result = runner.invoke(app, ["contracts", "diff", str(bad), str(bad)])
    assert result.exit_code == 2
    assert "not an OpenAPI document" in result.output


@pytest.mark.parametrize("rule", [r.id for r in RULES[:3]])
def test_rules_command_lists_the_rules(rule: str) -> None:
    result = runner.invoke(app, ["contracts", "rules"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert rule in result.output
