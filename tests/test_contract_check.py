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


# A provider's 400/422: was the request valid by the published request model?
VERIFY = "population:CitizenVerification"
BIRTH = "civil_registry:BirthRegistrationRequest"
CLAIM = {"personal_id": "038090001234", "full_name": "Lê Văn An", "date_of_birth": "1990-05-01"}


def _problem(*errors: tuple[list[str | int], str]) -> bytes:
    body = {"title": "Invalid request", "status": 422, "code": "invalid_request"}
    body["errors"] = [{"loc": loc, "msg": "m", "type": kind} for loc, kind in errors]
    return json.dumps(body).encode()


def test_refusing_a_valid_request_for_a_field_the_contract_lacks_is_flagged(
    checker: ContractChecker,
) -> None:
    problem = _problem((["body", "procedure_code"], "missing"), (["body", "channel"], "enum"))
    assert checker.check_refusal(VERIFY, json.dumps(CLAIM).encode(), problem) == [
        "request: refused a contract-valid request (missing: procedure_code; invalid: channel)"
    ]


def test_a_nested_field_outside_the_contract_is_named_by_its_path(
    checker: ContractChecker,
) -> None:
    from mock_services.civil_registry import example_requests

    birth = example_requests(2024)[0].model_dump_json().encode()
    assert checker.check_refusal(BIRTH, birth, _problem((["body", "declarant"], "missing"))) == [
        "request: refused a contract-valid request (missing: declarant)"
    ]
    nested = _problem((["body", "mother", "phone"], "missing"))
    assert checker.check_refusal(BIRTH, birth, nested) == [
        "request: refused a contract-valid request (missing: mother.phone)"
    ]
    # The contract's own fields, refused on their values, are the contract at work.
    assert (
        checker.check_refusal(BIRTH, birth, _problem((["body", "mother", "full_name"], "x"))) == []
    )


@pytest.mark.parametrize(
    ("request_body", "problem"),
    [
        # The province left out a field the contract requires: the refusal is right.
        (json.dumps({**CLAIM, "full_name": None}).encode(), _problem((["body", "x"], "missing"))),
        (b"not json", _problem((["body", "procedure_code"], "missing"))),
        # Valid, but refused on a field of the contract (a citizen mismatch).
        (json.dumps(CLAIM).encode(), _problem((["body", "full_name"], "value_error"))),
        # Valid, but the problem names no body field (or is no problem at all).
        (json.dumps(CLAIM).encode(), _problem((["query", "procedure_code"], "missing"))),
        (json.dumps(CLAIM).encode(), json.dumps({"code": "citizen_mismatch"}).encode()),
        (json.dumps(CLAIM).encode(), b"<html>Bad Request</html>"),
        (json.dumps(CLAIM).encode(), b"[1, 2]"),
    ],
    ids=["invalid", "not-json", "own-field", "query", "no-errors", "html", "list"],
)
def test_refusals_the_contract_explains_are_not_flagged(
    checker: ContractChecker, request_body: bytes, problem: bytes
) -> None:
    assert checker.check_refusal(VERIFY, request_body, problem) == []


def test_no_request_model_means_no_refusal_check(checker: ContractChecker) -> None:
    problem = _problem((["body", "procedure_code"], "missing"))
    assert checker.check_refusal(None, json.dumps(CLAIM).encode(), problem) == []
    assert checker.check_refusal("common:NoSuchModel", b"{}", problem) == []
