"""The committed OpenAPI contracts equal the code, validate, and document every operation."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from openapi_spec_validator import validate

from contracts.catalogue import OPERATIONS
from contracts.published import OPENAPI_DIR
from ndxp_sim.published import all_documents, stale_documents

MOCK_FILES = [
    "population.yaml",
    "business-registry.yaml",
    "driver-licence.yaml",
    "civil-registry.yaml",
    "judicial-records.yaml",
    "population.v2.yaml",  # FM-08: v2 of two contracts, served beside v1
    "driver-licence.v2.yaml",
]


def _load(name: str) -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((OPENAPI_DIR / name).read_text(encoding="utf-8"))
    return doc


def test_committed_contracts_equal_the_code() -> None:
    assert stale_documents() == [], "run `ndxp-sim openapi --write` and commit the result"


def test_every_published_file_is_committed() -> None:
    assert set(all_documents()) == {*MOCK_FILES, "gateway.yaml"}


@pytest.mark.parametrize("name", [*MOCK_FILES, "gateway.yaml"])
def test_contract_is_valid_openapi_31_with_a_version(name: str) -> None:
    doc = _load(name)
    validate(doc)
    assert doc["openapi"] == "3.1.0"
    assert doc["info"]["version"]


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.service)
def test_catalogue_operation_is_published_with_an_example(op: Any) -> None:
    doc = _load(f"{op.contract}.yaml")
    assert op.path.startswith(f"/v{op.version}/")
    published = doc["paths"][op.path][op.method.lower()]
    assert published["operationId"] == op.operation_id
    assert "curl" in published["description"]
    success = next(v for k, v in published["responses"].items() if k.startswith("2"))
    if op.response_model is not None:
        assert "example" in success["content"]["application/json"]
    assert any(
        "application/problem+json" in response.get("content", {})
        for code, response in published["responses"].items()
        if code.startswith("4")
    )


@pytest.mark.parametrize("name", MOCK_FILES)
def test_mocks_publish_only_catalogue_operations(name: str) -> None:
    contract = name.removesuffix(".yaml")
    doc = _load(name)
    published = {(m.upper(), p) for p, item in doc["paths"].items() for m in item}
    expected = {(op.method, op.path) for op in OPERATIONS if op.contract == contract}
    assert published == expected


def test_personal_ids_carry_their_pattern_and_vietnamese_term() -> None:
    citizen = _load("population.yaml")["components"]["schemas"]["Citizen"]
    personal_id = citizen["properties"]["personal_id"]
    assert personal_id["pattern"] == r"^\d{12}$"
    assert "số định danh cá nhân" in personal_id["description"]
    assert citizen["properties"]["date_of_birth"]["format"] == "date"
    assert "personal_id" in citizen["required"]
