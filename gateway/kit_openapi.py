"""The national databases' contracts *as seen through the gateway*, for one consumer's kit.

The published contracts (``contracts/openapi/<provider>.yaml``) describe each database at its
own address. A province calls them through NDXP, where the same operation lives at
``/{provider}{path}``, needs a bearer token, and may also be answered by the gateway itself.
This module merges the contracts of the operations a consumer subscribes to into one OpenAPI
3.1 document with:

- ``servers``: the gateway; an OAuth2 client-credentials security scheme (RFC 6749 §4.4);
- every gateway status as a shared response (generated from :mod:`gateway.errors`) and every
  gateway header as a shared header (``RateLimit`` and ``RateLimit-Policy`` of
  draft-ietf-httpapi-ratelimit-headers, ``Retry-After``, ``X-NDXP-*``);
- an example for every parameter (the province's sample ids, :mod:`contracts.samples`);
- ``links`` from an answer to the calls it makes possible (a dossier page → that dossier → its
  file), with the JSON pointers the Postman collection follows too.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from contracts.common import CONTRACT_VERSION, PROBLEM_MEDIA_TYPE, install_problem_schema
from contracts.headers import ERROR_HEADER, EXCHANGE_ID_HEADER, VIOLATIONS_HEADER
from contracts.samples import ProviderSamples, SampleCall
from gateway.kit_codes import CodeRow, gateway_rows

SECURITY_SCHEME = "ndxpClientCredentials"
# Gateway codes no proxied operation answers with (the gateway's own endpoints only).
_NOT_ON_OPERATIONS = frozenset({"not_found"})
_REF = re.compile(r"^#/components/schemas/(.+)$")


@dataclass(frozen=True, slots=True)
class Link:
    """``source`` answers → ``target`` can be called with ``param`` taken from ``pointer``."""

    source: str
    target: str
    param: str
    pointer: str  # JSON pointer into the source's response body

    @property
    def name(self) -> str:
        return f"{self.target.partition('.')[2]}_{self.param}"


def _business_links() -> list[Link]:
    links = []
    for singular in ("enterprise", "household_business", "cooperative"):
        src = f"business-registry.list_{singular}_dossiers"
        detail = f"business-registry.get_{singular}_dossier"
        links += [
            Link(src, detail, "dossier_id", "/items/0/dossier_id"),
            Link(detail, f"business-registry.get_{singular}", "code", "/entity_code"),
            Link(detail, "business-registry.download_file", "file_id", "/results/0/file_id"),
        ]
    return links


def _driver_licence_links() -> list[Link]:
    links = [
        # The same licence in the other version of the contract.
        Link(
            "driver-licence.get_licence",
            "driver-licence.get_licence_v2",
            "licence_number",
            "/licence_number",
        )
    ]
    for suffix in ("", "_v2"):
        page, dossier = f"list_renewal_dossiers{suffix}", f"get_renewal_dossier{suffix}"
        links += [
            Link(
                f"driver-licence.{page}",
                f"driver-licence.{dossier}",
                "dossier_id",
                "/items/0/dossier_id",
            ),
            Link(
                f"driver-licence.{dossier}",
                f"driver-licence.get_licence{suffix}",
                "licence_number",
                "/licence_number",
            ),
            Link(
                f"driver-licence.{dossier}",
                f"driver-licence.download_file{suffix}",
                "file_id",
                "/result_file_id",
            ),
        ]
    return links


LINKS: tuple[Link, ...] = (
    Link(
        "population.get_citizen", "population.resolve_legacy_id", "old_id_number", "/old_id_number"
    ),
    Link(
        "population.get_citizen_v2",
        "population.resolve_legacy_id_v2",
        "old_id_number",
        "/old_id_number",
    ),
    *_business_links(),
    *_driver_licence_links(),
    Link(
        "civil-registry.submit_birth_registration",
        "civil-registry.get_registration",
        "registration_id",
        "/registration_id",
    ),
    Link(
        "civil-registry.submit_death_registration",
        "civil-registry.get_registration",
        "registration_id",
        "/registration_id",
    ),
    Link(
        "judicial-records.request_certificate",
        "judicial-records.get_certificate_request",
        "request_id",
        "/request_id",
    ),
)


@dataclass(frozen=True, slots=True)
class KitOperation:
    """One subscribed operation: where it lives on the provider, and its sample call."""

    provider: str
    operation_id: str
    method: str
    path: str  # on the provider, e.g. /v1/citizens/{personal_id}
    sample: SampleCall | None

    @property
    def service(self) -> str:
        return f"{self.provider}.{self.operation_id}"

    @property
    def gateway_path(self) -> str:
        return f"/{self.provider}{self.path}"

    @property
    def contract(self) -> str:
        """The published document describing it: ``population`` (v1), ``population.v2``."""
        version = self.path.split("/")[1]
        return self.provider if version == "v1" else f"{self.provider}.{version}"


def kit_operations(
    routes: Iterable[tuple[str, str, str, str]],
    samples: Mapping[str, ProviderSamples | None],
) -> list[KitOperation]:
    """``(provider, operation id, method, path)`` rows joined with their sample calls."""
    found = []
    for provider, op_id, method, path in routes:
        provider_samples = samples.get(provider)
        sample = provider_samples.operations.get(op_id) if provider_samples else None
        found.append(KitOperation(provider, op_id, method, path, sample))
    return found


def shared_headers(codes: list[CodeRow]) -> dict[str, Any]:
    """The gateway's headers as OpenAPI header objects."""
    string = {"type": "string"}
    return {
        EXCHANGE_ID_HEADER: {
            "description": "The exchange's id in the gateway's log; on every answer. Quote it "
            "to ops (`GET /admin/exchanges/{exchange_id}`).",
            "required": True,
            "schema": {"type": "string", "pattern": "^[0-9a-f]{32}$"},
            "example": "5f0c2a4e9b7d4c1e8a3f6b2d1c0e9a87",
        },
        ERROR_HEADER: {
            "description": "Set on every error the gateway itself makes (never on a national "
            "database's own error, which is passed on unchanged): the problem's `code`.",
            "schema": {"type": "string", "enum": sorted({r.code for r in codes})},
            "example": "quota_exceeded",
        },
        "RateLimit-Policy": {
            "description": "Every daily quota that applies (draft-ietf-httpapi-ratelimit-"
            "headers): `q` requests per window `w` seconds. On every answer to an admitted "
            "request and on 429; not on refusals made before the quota is counted (400, 401, "
            "403, 404, 413), which use none.",
            "schema": string,
            "example": '"daily";q=200000;w=86400, "daily-population.get_citizen";q=50000;w=86400',
        },
        "RateLimit": {
            "description": "The tightest quota: `r` requests remaining, reset in `t` seconds "
            "(local midnight, Asia/Ho_Chi_Minh). Same answers as `RateLimit-Policy`.",
            "schema": string,
            "example": '"daily-population.get_citizen";r=49999;t=43200',
        },
        "Retry-After": {
            "description": "Seconds to wait before trying again (RFC 9110 §10.2.3): on 429 "
            "(to local midnight, with jitter) and on a database's 503.",
            "schema": {"type": "integer", "minimum": 0},
            "example": 43217,
        },
        VIOLATIONS_HEADER: {
            "description": "On a 2xx whose body breaks the published contract: the JSON paths "
            "of the missing or broken fields. The body is passed on as the database sent it.",
            "schema": string,
            "example": "phone, id_card_issued_on",
        },
        "WWW-Authenticate": {
            "description": "RFC 6750 §3: the scheme a 401 expects.",
            "schema": string,
            "example": 'Bearer realm="ndxp"',
        },
    }


def _header_ref(name: str) -> dict[str, Any]:
    # A Reference Object takes no "required": the shared header says whether it always is.
    return {"$ref": f"#/components/headers/{name}"}


def _ratelimit_headers() -> dict[str, Any]:
    return {name: _header_ref(name) for name in ("RateLimit-Policy", "RateLimit")}


def response_name(status: int) -> str:
    return f"Gateway{status}"


def shared_responses(codes: list[CodeRow]) -> dict[str, Any]:
    """One shared response per status the gateway makes, listing its codes."""
    by_status: dict[int, list[CodeRow]] = {}
    for row in codes:
        by_status.setdefault(row.status, []).append(row)
    responses: dict[str, Any] = {}
    for status, rows in sorted(by_status.items()):
        headers: dict[str, Any] = {
            EXCHANGE_ID_HEADER: _header_ref(EXCHANGE_ID_HEADER),
            ERROR_HEADER: _header_ref(ERROR_HEADER),
        }
        if status == 401:
            headers["WWW-Authenticate"] = _header_ref("WWW-Authenticate")
        if status == 429:
            headers["Retry-After"] = _header_ref("Retry-After")
        if status == 429 or status >= 500:
            headers.update(_ratelimit_headers())
        listed = "; ".join(f"`{r.code}` — {r.meaning} (retry: {r.retry})" for r in rows)
        responses[response_name(status)] = {
            "description": f"Made by the gateway (`X-NDXP-Error` set): {listed}.",
            "headers": headers,
            "content": {
                PROBLEM_MEDIA_TYPE: {
                    "schema": {"$ref": "#/components/schemas/Problem"},
                    "example": {
                        "type": "https://ndxp-sim.example/problems/"
                        + rows[0].code.replace("_", "-"),
                        "title": rows[0].meaning,
                        "status": status,
                        "code": rows[0].code,
                        "exchange_id": "5f0c2a4e9b7d4c1e8a3f6b2d1c0e9a87",
                    },
                }
            },
        }
    return responses


def gateway_document(
    *,
    title: str,
    description: str,
    gateway_url: str,
    operations: list[KitOperation],
    contracts: Mapping[str, dict[str, Any]],
) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``operations`` as a consumer calls them through the gateway."""
    codes = gateway_rows()
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": title, "version": CONTRACT_VERSION, "description": description},
        "servers": [{"url": gateway_url, "description": "NDXP gateway (sandbox)"}],
        "security": [{SECURITY_SCHEME: []}],
        "tags": [],
        "paths": {},
        "components": {
            "schemas": {},
            "responses": shared_responses(codes),
            "headers": shared_headers(codes),
            "securitySchemes": {
                SECURITY_SCHEME: {
                    "type": "oauth2",
                    "description": "Client credentials (form fields or HTTP Basic) for a short-"
                    "lived bearer token; send it as `Authorization: Bearer <token>`.",
                    "flows": {
                        "clientCredentials": {
                            "tokenUrl": f"{gateway_url}/oauth2/token",
                            "scopes": {},
                        }
                    },
                }
            },
        },
    }
    install_problem_schema(doc)
    renames = _merge_schemas(doc, contracts, {op.contract for op in operations})
    statuses = sorted({r.status for r in codes if r.code not in _NOT_ON_OPERATIONS})
    for op in operations:
        published = _published(contracts.get(op.contract), op)
        operation = _through_gateway(
            op, published, renames.get(op.contract, {}), statuses, gateway_url
        )
        doc["paths"].setdefault(op.gateway_path, {})[op.method.lower()] = operation
    for provider in sorted({op.provider for op in operations}):
        contract = contracts.get(provider, {})
        doc["tags"].append(
            {"name": provider, "description": contract.get("info", {}).get("title", provider)}
        )
    _add_links(doc, operations)
    return doc


def _published(contract: dict[str, Any] | None, op: KitOperation) -> dict[str, Any]:
    """The provider's own description of the operation (a stub when it publishes none)."""
    found = (contract or {}).get("paths", {}).get(op.path, {}).get(op.method.lower())
    if found is not None:
        return copy.deepcopy(found)
    params = [
        {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
        for name in re.findall(r"\{([a-z_][a-z0-9_]*)\}", op.path)
    ]
    return {
        "summary": op.service,
        "parameters": params,
        "responses": {"200": {"description": "OK"}},
    }


def _merge_schemas(
    doc: dict[str, Any], contracts: Mapping[str, dict[str, Any]], providers: set[str]
) -> dict[str, dict[str, str]]:
    """Copy each provider's schemas in; a name two providers define differently is prefixed."""
    schemas = doc["components"]["schemas"]
    renames: dict[str, dict[str, str]] = {}
    for provider in sorted(providers):
        own = (contracts.get(provider) or {}).get("components", {}).get("schemas", {})
        prefix = "".join(part.title() for part in re.split(r"[-.]", provider))
        mapping = {
            name: name if name not in schemas or schemas[name] == body else prefix + name
            for name, body in own.items()
        }
        renames[provider] = mapping
        for name, body in own.items():
            schemas.setdefault(mapping[name], _rewrite_refs(copy.deepcopy(body), mapping))
    return renames


def _rewrite_refs(node: Any, mapping: Mapping[str, str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        found = _REF.match(ref) if isinstance(ref, str) else None
        if found and found[1] in mapping:
            node["$ref"] = f"#/components/schemas/{mapping[found[1]]}"
        for value in node.values():
            _rewrite_refs(value, mapping)
    elif isinstance(node, list):
        for value in node:
            _rewrite_refs(value, mapping)
    return node


def _through_gateway(
    op: KitOperation,
    published: dict[str, Any],
    renames: Mapping[str, str],
    statuses: list[int],
    gateway_url: str,
) -> dict[str, Any]:
    operation: dict[str, Any] = _rewrite_refs(published, renames)
    operation["operationId"] = op.service
    operation["tags"] = [op.provider]
    text = operation.get("description", "").split("\n\nExample (")[0].split("Example (")[0]
    operation["description"] = (text.rstrip() + "\n\n" + _curl(op, gateway_url)).lstrip()
    sample = op.sample
    for param in operation.get("parameters", []):
        value = _sample_value(sample, param)
        if value is not None:
            param["example"] = value
        elif "example" not in param:
            schema = param.get("schema", {})
            default = schema.get("default", (schema.get("enum") or [None])[0])
            if default is not None:
                param["example"] = default
    if sample is not None and sample.body is not None and "requestBody" in operation:
        for content in operation["requestBody"].get("content", {}).values():
            content["example"] = sample.body
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status, response in responses.items():
        # The database's links name its own operation ids; the kit's are added by _add_links.
        response.pop("links", None)
        headers = response.setdefault("headers", {})
        headers[EXCHANGE_ID_HEADER] = _header_ref(EXCHANGE_ID_HEADER)
        headers.update(_ratelimit_headers())
        if status.startswith("2"):
            headers[VIOLATIONS_HEADER] = _header_ref(VIOLATIONS_HEADER)
            for content in response.get("content", {}).values():
                content.pop("example", None)  # a Thanh Hóa body; the province's differs
        else:
            response["description"] = response.get("description", "") + (
                " — the national database's own answer, passed on unchanged (no `X-NDXP-Error`)"
            )
        if status == "503":
            headers["Retry-After"] = _header_ref("Retry-After")
    for code in statuses:
        if code == 413 and "requestBody" not in operation:
            continue
        key = str(code)
        shared = {"$ref": f"#/components/responses/{response_name(code)}"}
        if key not in responses:
            responses[key] = shared
        else:
            responses[key]["description"] += (
                f"; or made by the gateway (`X-NDXP-Error` set): see {response_name(code)}"
            )
            responses[key]["headers"][ERROR_HEADER] = _header_ref(ERROR_HEADER)
    operation["responses"] = dict(sorted(responses.items()))
    return operation


def _sample_value(sample: SampleCall | None, param: Mapping[str, Any]) -> Any:
    if sample is None:
        return None
    if param["in"] == "path":
        return sample.path_params.get(param["name"])
    if param["in"] == "query":
        return sample.query.get(param["name"], sample.optional_query.get(param["name"]))
    return None


def _curl(op: KitOperation, gateway_url: str) -> str:
    from gateway.kit_postman import sample_url  # one URL builder for every kit artefact

    url = gateway_url + sample_url(op)
    lines = ['curl -s -H "Authorization: Bearer $TOKEN"']
    if op.method != "GET":
        lines[0] += f" -X {op.method} -H 'Content-Type: application/json'"
        if op.sample is not None and op.sample.body is not None:
            lines.append(f"     -d '{json.dumps(op.sample.body, ensure_ascii=False)}'")
    lines.append(f"     '{url}'")
    body = " \\\n    ".join(lines)
    return f"Example ({op.sample.summary if op.sample else 'through the gateway'}):\n\n    {body}"


def _add_links(doc: dict[str, Any], operations: list[KitOperation]) -> None:
    by_service = {op.service: op for op in operations}
    for link in LINKS:
        source, target = by_service.get(link.source), by_service.get(link.target)
        if source is None or target is None:
            continue
        operation = doc["paths"][source.gateway_path][source.method.lower()]
        for status, response in operation["responses"].items():
            if status.startswith("2"):
                response.setdefault("links", {})[link.name] = {
                    "operationId": link.target,
                    "parameters": {link.param: f"$response.body#{link.pointer}"},
                    "description": f"{link.target} with {link.param} from this answer",
                }
