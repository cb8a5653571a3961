"""Contract check: violated field paths, normalised; a model that cannot load means no check."""

from __future__ import annotations

import json

import pytest

from gateway.contract_check import ContractChecker

FIELD_ERROR = "common:FieldError"
PROBLEM = "common:Problem"


@pytest.fixture
def checker() -> ContractChecker:
    return ContractChecker()


def test_body_that_keeps_the_contract_has_no_violations(checker: ContractChecker) -> None:
    body = json.dumps({"loc": ["a", 1], "msg": "m", "type": "t"}).encode()
    assert checker.check(FIELD_ERROR, body) == []


def test_missing_and_extra_fields_are_reported_by_path(checker: ContractChecker) -> None:
    body = json.dumps({"loc": ["a"], "surprise": True}).encode()
    assert checker.check(FIELD_ERROR, body) == ["msg", "type", "surprise"]


def test_list_indices_are_collapsed_and_paths_deduplicated(checker: ContractChecker) -> None:
    body = json.dumps(
        {"title": "t", "status": 400, "code": "x", "errors": [{"loc": []}, {"loc": []}]}
    ).encode()
    assert checker.check(PROBLEM, body) == ["errors[].msg", "errors[].type"]


@pytest.mark.parametrize("body", [b"", b"<html>", b"[]"], ids=["empty", "html", "list"])
def test_body_that_is_not_the_expected_object_is_reported_as_root(
    checker: ContractChecker, body: bytes
) -> None:
    assert checker.check(FIELD_ERROR, body) == ["$"]


@pytest.mark.parametrize(
    "name", [None, "no_such_module:Model", "common:NoSuchModel", "common:PROBLEM_MEDIA_TYPE"]
)
def test_no_model_means_no_check(checker: ContractChecker, name: str | None) -> None:
    assert checker.check(name, b"whatever") == []
