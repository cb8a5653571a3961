"""The connection kit: its OpenAPI document, Postman collection, code table and zip."""

from __future__ import annotations

import copy
import io
import json
import zipfile
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from fastapi import FastAPI
from openapi_spec_validator import validate

from connectors.errors import error_class
from contracts.catalogue import OPERATIONS, PROVIDERS
from contracts.headers import ERROR_HEADER
from contracts.problems import PROVIDER_PROBLEMS
from contracts.samples import ProviderSamples
from gateway.errors import all_error_classes
from gateway.kit import KitConsumer, build_kit, zip_kit
from gateway.kit_codes import GATEWAY, code_table
from gateway.kit_openapi import LINKS
from gateway.registry import default_registry
from mock_services.apps import MOCK_FACTORIES
from mock_services.samples import province_samples
from ndxp_config.settings import Settings

GATEWAY_URL = "http://ndxp.test:8000"
PROVINCE = "011"  # Điện Biên: not the published contracts' Thanh Hóa


def _consumer(province: str = PROVINCE) -> KitConsumer:
    spec = next(c for c in default_registry().consumers if c.province == province)
    return KitConsumer(
        id=spec.id,
        name=spec.name,
        province=spec.province,
        client_id=spec.client_id,
        client_secret=spec.client_secret.get_secret_value(),
        subscriptions=list(spec.subscriptions),
        daily_quota=spec.daily_quota,
        service_quotas=dict(spec.service_quotas),
    )


def _routes() -> list[tuple[str, str, str, str]]:
    return [(op.provider, op.operation_id, op.method, op.path) for op in OPERATIONS]


def _samples(province: str = PROVINCE) -> dict[str, ProviderSamples | None]:
    return {p: province_samples(2024, p, province) for p in PROVIDERS}


@pytest.fixture(scope="module")
def kit() -> dict[str, bytes]:
    return build_kit(_consumer(), gateway_url=GATEWAY_URL, routes=_routes(), samples=_samples())


@pytest.fixture(scope="module")
def doc(kit: dict[str, bytes]) -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(kit["openapi.yaml"])
    return loaded


def _operations(doc: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(path, m, op) for path, item in doc["paths"].items() for m, op in item.items()]


def test_kit_openapi_is_a_valid_openapi_31_document(doc: dict[str, Any]) -> None:
    assert doc["openapi"] == "3.1.0"
    validate(doc)


def test_kit_openapi_points_at_the_gateway_with_client_credentials(doc: dict[str, Any]) -> None:
    assert doc["servers"] == [{"url": GATEWAY_URL, "description": "NDXP gateway (sandbox)"}]
    (scheme,) = doc["components"]["securitySchemes"].values()
    assert scheme["flows"]["clientCredentials"]["tokenUrl"] == f"{GATEWAY_URL}/oauth2/token"
    assert doc["security"] == [{name: []} for name in doc["components"]["securitySchemes"]]


def test_kit_openapi_routes_every_subscribed_operation_under_its_provider(
    doc: dict[str, Any],
) -> None:
    found = {(path, method.upper()) for path, method, _ in _operations(doc)}
    assert found == {(f"/{op.provider}{op.path}", op.method) for op in OPERATIONS}


def test_every_gateway_status_and_header_is_a_shared_component(doc: dict[str, Any]) -> None:
    statuses = {cls.status_code for cls in all_error_classes()}
    shared = doc["components"]["responses"]
    assert {int(name.removeprefix("Gateway")) for name in shared} == statuses
    for required in (401, 403, 404, 413, 429, 502, 503, 504):
        assert f"Gateway{required}" in shared
    headers = set(doc["components"]["headers"])
    assert {"RateLimit", "RateLimit-Policy", "Retry-After", ERROR_HEADER} <= headers
    assert {"X-NDXP-Exchange-Id", "X-NDXP-Contract-Violations"} <= headers
    assert {"Problem", "FieldError"} <= set(doc["components"]["schemas"])


def test_every_operation_references_the_gateway_refusals(doc: dict[str, Any]) -> None:
    for path, _, op in _operations(doc):
        for status in ("401", "403", "429", "502", "503", "504"):
            assert status in op["responses"], (path, status)


def test_every_parameter_has_an_example_of_the_province(doc: dict[str, Any]) -> None:
    for path, _, op in _operations(doc):
        for param in op.get("parameters", []):
            assert "example" in param, (path, param["name"])
            if param["name"] == "province":
                assert param["example"] == PROVINCE
    citizen = doc["paths"]["/population/v1/citizens/{personal_id}"]["get"]
    assert citizen["parameters"][0]["example"].startswith(PROVINCE)


def test_links_name_existing_operations_and_parameters(doc: dict[str, Any]) -> None:
    ids = {op["operationId"]: op for _, _, op in _operations(doc)}
    seen = 0
    for _, _, op in _operations(doc):
        for response in op["responses"].values():
            for link in response.get("links", {}).values():
                target = ids[link["operationId"]]
                names = {p["name"] for p in target.get("parameters", [])}
                assert set(link["parameters"]) <= names
                seen += 1
    assert seen >= len(LINKS)


def _pointer(doc: Any, pointer: str) -> Any:
    for key in pointer.split("/")[1:]:
        doc = doc[int(key)] if isinstance(doc, list) else doc[key]
    return doc


@pytest.mark.parametrize("link", LINKS, ids=lambda link: f"{link.source}->{link.name}")
async def test_each_link_pointer_finds_a_working_value_in_the_real_answer(
    link: Any, settings: Settings, client_for: Callable[[FastAPI], httpx.AsyncClient]
) -> None:
    provider, _, op_id = link.source.partition(".")
    sample = province_samples(settings.mocks.seed, provider, PROVINCE).operations[op_id]
    source = next(o for o in OPERATIONS if o.service == link.source)
    target = next(o for o in OPERATIONS if o.service == link.target)
    async with client_for(MOCK_FACTORIES[provider](settings)) as client:
        answer = await client.request(
            source.method,
            source.path.format_map(sample.path_params),
            params=sample.query,
            json=sample.body,
        )
        assert answer.is_success, answer.text
        value = _pointer(answer.json(), link.pointer)
        followed = await client.get(target.path.replace("{" + link.param + "}", str(value)))
    assert followed.status_code == 200, followed.text


def test_code_table_lists_every_gateway_and_provider_code() -> None:
    table = code_table()
    gateway = {r.code for r in table if r.origin == GATEWAY}
    assert {cls.code for cls in all_error_classes()} - {"provider_maintenance"} <= gateway
    assert {p.code for p in PROVIDER_PROBLEMS} <= {r.code for r in table if r.origin != GATEWAY}
    assert "upstream_overloaded" not in {r.code for r in table}  # a log outcome, not a code


@pytest.mark.parametrize("row", code_table(), ids=lambda r: f"{r.origin}:{r.code}")
def test_code_table_says_retry_exactly_where_the_sdk_retries(row: Any) -> None:
    sdk_retries = error_class(row.code, row.status).retryable
    assert row.retry.startswith("yes") == sdk_retries, row


def test_postman_collection_gets_a_token_and_tests_every_request(kit: dict[str, bytes]) -> None:
    collection = json.loads(kit["postman/collection.json"])
    assert collection["info"]["schema"].endswith("/v2.1.0/collection.json")
    (pre,) = collection["event"]
    assert "pm.sendRequest" in "\n".join(pre["script"]["exec"])
    requests = [item for folder in collection["item"] for item in folder["item"]]
    assert len(requests) == len(OPERATIONS) + 1  # every operation and the token request
    for item in requests:
        tests = "\n".join(item["event"][0]["script"]["exec"])
        assert "pm.response.code" in tests or "to.have.status" in tests, item["name"]
        assert "jsonSchema" in tests or "Content-Type" in tests, item["name"]
    env = {v["key"]: v["value"] for v in json.loads(kit["postman/environment.json"])["values"]}
    assert env == {
        "baseUrl": GATEWAY_URL,
        "clientId": "onestop-dien-bien",
        "clientSecret": "dev-secret-dien-bien",
    }


def test_readme_is_in_vietnamese_and_english_with_the_credentials(kit: dict[str, bytes]) -> None:
    readme = kit["README.md"].decode()
    assert "## Tiếng Việt" in readme
    assert "## English" in readme
    assert "onestop-dien-bien" in readme
    assert f"{GATEWAY_URL}/oauth2/token" in readme
    assert "NDXP_CLIENT_SECRET=dev-secret-dien-bien" in kit["credentials.env"].decode()
    samples = json.loads(kit["samples.json"])
    assert samples["province"] == PROVINCE
    assert (
        samples["operations"]["population.get_citizen"]["path_params"]["personal_id"][:3]
        == PROVINCE
    )


def test_the_zip_is_the_same_bytes_for_the_same_kit(kit: dict[str, bytes]) -> None:
    first, second = zip_kit(kit, "ndxp-kit-x"), zip_kit(dict(kit), "ndxp-kit-x")
    assert first == second
    names = zipfile.ZipFile(io.BytesIO(first)).namelist()
    assert sorted(names) == sorted(f"ndxp-kit-x/{name}" for name in kit)


def test_a_provider_without_samples_keeps_the_published_examples() -> None:
    files = build_kit(
        _consumer(),
        gateway_url=GATEWAY_URL,
        routes=_routes(),
        samples=dict.fromkeys(PROVIDERS),
    )
    doc = yaml.safe_load(files["openapi.yaml"])
    citizen = doc["paths"]["/population/v1/citizens/{personal_id}"]["get"]
    assert citizen["parameters"][0]["example"].startswith("038")  # the published Thanh Hóa id


def test_kit_describes_each_contract_version_with_its_own_schemas(doc: dict[str, Any]) -> None:
    """v1 and v2 of a database both define a ``Citizen``: the kit keeps them apart (FM-08)."""
    schemas = doc["components"]["schemas"]

    def body_schema(path: str) -> dict[str, Any]:
        content = doc["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        ref: str = content["schema"]["$ref"]
        found: dict[str, Any] = schemas[ref.rsplit("/", 1)[1]]
        return found

    v1 = body_schema("/population/v1/citizens/{personal_id}")
    v2 = body_schema("/population/v2/citizens/{personal_id}")
    assert "id_card_issue_date" in v1["properties"]
    assert "id_card_issued_on" not in v1["properties"]
    assert "id_card_issued_on" in v2["properties"]
    assert "id_card_issue_date" not in v2["properties"]
    licence = body_schema("/driver-licence/v2/licences/{licence_number}")
    assert {"issued_by", "points"} <= set(licence["properties"])


def test_the_kit_declares_every_link_schemathesis_infers_within_one_database(
    doc: dict[str, Any],
) -> None:
    """The kit's schemathesis run infers no links (tests/integration/test_schemathesis.py): it
    would join databases by a shared name (a business ``file_id`` → driver-licence
    ``/files/{file_id}``). So every link it infers within one database must be declared."""
    paths = {op["operationId"]: (path, m) for path, m, op in _operations(doc)}
    declared = {
        (path, m, paths[link["operationId"]])
        for path, m, op in _operations(doc)
        for response in op["responses"].values()
        for link in response.get("links", {}).values()
    }
    bare = copy.deepcopy(doc)  # without the declared links, which inference would not repeat
    for _, _, op in _operations(bare):
        for response in op["responses"].values():
            response.pop("links", None)
    schema = schemathesis.openapi.from_dict(bare)
    schema.analysis.inject_links()
    inferred = set()
    for path, item in schema.raw_schema["paths"].items():
        for m, op in item.items():
            for response in op["responses"].values():
                for link in response.get("links", {}).values():
                    ref = link.get("operationRef", "").removeprefix("#/paths/")
                    target_path, _, target_method = ref.replace("~1", "/").rpartition("/")
                    if target_path and target_path.split("/")[1] == path.split("/")[1]:
                        inferred.add((path, m, (target_path, target_method)))
    assert inferred, "schemathesis inferred nothing: the check below would be empty"
    assert inferred <= declared, sorted(inferred - declared)
