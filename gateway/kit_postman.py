"""The kit's Postman collection (v2.1) and environment, written from the kit's OpenAPI document.

Import both into Postman, or run them as they are with newman::

    newman run postman/collection.json -e postman/environment.json

A collection-level pre-request script gets a token with the client credentials and caches it
until 30 s before it expires; every request then checks the status the contract documents
for success, the gateway's exchange id, the body against the contract's JSON Schema and the
absence of ``X-NDXP-Contract-Violations``. Requests run in an order where each answer feeds the
next (the OpenAPI ``links``): the birth registration's id is the one its submission returned.
"""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import quote, urlencode

from contracts.gateway import TokenResponse
from contracts.headers import EXCHANGE_ID_HEADER
from gateway.kit_openapi import LINKS, KitOperation

SCHEMA_URL = "https://schema.getpostman.com/json/collection/v2.1.0/collection.json"
# Formats ajv (Postman's validator) knows; any other would stop the schema from compiling.
_AJV_FORMATS = frozenset(
    {"date", "time", "date-time", "uri", "uri-reference", "email", "hostname", "ipv4", "ipv6"}
    | {"uuid", "regex", "json-pointer", "relative-json-pointer", "uri-template", "url"}
)

PRE_REQUEST = """\
// Get a token with the client credentials once; reuse it until 30 s before it expires.
if (pm.request.url.getPath() !== "/oauth2/token") {
    const token = pm.collectionVariables.get("accessToken");
    const expiresAt = Number(pm.collectionVariables.get("accessTokenExpiresAt") || 0);
    if (!token || Date.now() > expiresAt - 30000) {
        pm.sendRequest({
            url: pm.variables.get("baseUrl") + "/oauth2/token",
            method: "POST",
            header: { "Content-Type": "application/x-www-form-urlencoded" },
            body: {
                mode: "urlencoded",
                urlencoded: [
                    { key: "grant_type", value: "client_credentials" },
                    { key: "client_id", value: pm.variables.get("clientId") },
                    { key: "client_secret", value: pm.variables.get("clientSecret") }
                ]
            }
        }, function (err, res) {
            if (err || res.code !== 200) {
                throw new Error("token request failed: " + (err || res.code + " " + res.text()));
            }
            const body = res.json();
            pm.collectionVariables.set("accessToken", body.access_token);
            pm.collectionVariables.set(
                "accessTokenExpiresAt", String(Date.now() + body.expires_in * 1000));
        });
    }
}"""

_POINTER_JS = """\
function pointer(doc, path) {
    return path.split("/").slice(1).reduce(function (node, key) {
        return node === undefined || node === null ? undefined : node[key];
    }, doc);
}"""


def variable(op: KitOperation, param: str) -> str:
    """The collection variable holding ``param`` of ``op``."""
    return f"{op.provider}_{op.operation_id}_{param}".replace("-", "_")


def sample_url(op: KitOperation) -> str:
    """The operation's path and query with the sample values (a link's target: a placeholder)."""
    values = dict(op.sample.path_params) if op.sample else {}
    path = op.gateway_path
    for name in _path_params(op):
        path = path.replace("{" + name + "}", quote(values.get(name) or f"<{name}>", safe=""))
    query = urlencode(op.sample.query) if op.sample and op.sample.query else ""
    return path + (f"?{query}" if query else "")


def _path_params(op: KitOperation) -> list[str]:
    return [part[1:-1] for part in op.path.split("/") if part.startswith("{")]


def json_schema(components: dict[str, Any], name: str) -> dict[str, Any]:
    """A self-contained JSON Schema (draft-07, what Postman's ajv reads) for one component."""
    definitions: dict[str, Any] = {}
    todo = [name]
    while todo:
        current = todo.pop()
        if current in definitions:
            continue
        body = json.loads(json.dumps(components[current]))
        definitions[current] = _draft07(body, todo)
    return {"$ref": f"#/definitions/{name}", "definitions": definitions}


def _draft07(node: Any, todo: list[str]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            target = ref.rsplit("/", 1)[1]
            todo.append(target)
            node["$ref"] = f"#/definitions/{target}"
        if isinstance(node.get("format"), str) and node["format"] not in _AJV_FORMATS:
            del node["format"]
        for value in node.values():
            _draft07(value, todo)
    elif isinstance(node, list):
        for value in node:
            _draft07(value, todo)
    return node


def _script(kind: str, lines: list[str]) -> dict[str, Any]:
    return {"listen": kind, "script": {"type": "text/javascript", "exec": lines}}


def _tests(op: KitOperation, operation: dict[str, Any], components: dict[str, Any]) -> list[str]:
    success = [int(s) for s in operation["responses"] if s.startswith("2")]
    lines = [
        f"pm.test({json.dumps(f'status is a documented success {success}')}, function () {{",
        f"    pm.expect(pm.response.code).to.be.oneOf({json.dumps(success)});",
        "});",
        'pm.test("answered through the gateway (X-NDXP-Exchange-Id)", function () {',
        f"    pm.response.to.have.header({json.dumps(EXCHANGE_ID_HEADER)});",
        "});",
        'pm.test("no contract violations flagged", function () {',
        '    pm.expect(pm.response.headers.has("X-NDXP-Contract-Violations")).to.equal(false);',
        "});",
    ]
    content = operation["responses"][str(success[0])].get("content", {})
    ref = content.get("application/json", {}).get("schema", {}).get("$ref")
    if ref:
        name = ref.rsplit("/", 1)[1]
        schema = json.dumps(json_schema(components, name), ensure_ascii=False)
        lines += [
            f"pm.test({json.dumps(f'the body matches the contract ({name})')}, function () {{",
            f"    pm.response.to.have.jsonSchema({schema});",
            "});",
        ]
    else:
        media = next(iter(content), "application/octet-stream")
        lines += [
            f"pm.test({json.dumps(f'the body is {media}')}, function () {{",
            "    pm.expect(pm.response.headers.get('Content-Type'))"
            f".to.include({json.dumps(media)});",
            "});",
        ]
    links = [link for link in LINKS if link.source == op.service]
    if links and ref:
        lines += [_POINTER_JS, "const body = pm.response.json();"]
        for link in links:
            provider, _, op_id = link.target.partition(".")
            target = KitOperation(provider, op_id, "GET", "", None)
            lines.append(
                f"pm.collectionVariables.set({json.dumps(variable(target, link.param))}, "
                f"pointer(body, {json.dumps(link.pointer)}));  // link {link.name}"
            )
    return lines


def _request(
    op: KitOperation, operation: dict[str, Any], components: dict[str, Any]
) -> dict[str, Any]:
    path_params = _path_params(op)
    segments = [
        f":{part[1:-1]}" if part.startswith("{") else part
        for part in op.gateway_path.strip("/").split("/")
    ]
    sample = op.sample
    query: list[dict[str, Any]] = [
        {"key": k, "value": str(v)} for k, v in (sample.query if sample else {}).items()
    ]
    query += [
        {"key": k, "value": str(v), "disabled": True}
        for k, v in (sample.optional_query if sample else {}).items()
    ]
    raw = "{{baseUrl}}/" + "/".join(segments)
    if query:
        raw += "?" + "&".join(f"{q['key']}={q['value']}" for q in query if not q.get("disabled"))
    request: dict[str, Any] = {
        "method": op.method,
        "header": [{"key": "Accept", "value": "application/json, application/problem+json"}],
        "url": {
            "raw": raw,
            "host": ["{{baseUrl}}"],
            "path": segments,
            "query": query,
            "variable": [{"key": p, "value": "{{" + variable(op, p) + "}}"} for p in path_params],
        },
        "description": operation.get("summary", op.service),
    }
    if sample is not None and sample.body is not None:
        request["header"].append({"key": "Content-Type", "value": "application/json"})
        request["body"] = {
            "mode": "raw",
            "raw": json.dumps(sample.body, ensure_ascii=False, indent=2),
            "options": {"raw": {"language": "json"}},
        }
    return {
        "name": f"{op.service} — {operation.get('summary', '')}".strip(" —"),
        "request": request,
        "event": [_script("test", _tests(op, operation, components))],
    }


def _token_item() -> dict[str, Any]:
    schema = TokenResponse.model_json_schema()
    return {
        "name": "oauth2.token — get a token (client credentials)",
        "request": {
            "auth": {"type": "noauth"},
            "method": "POST",
            "header": [{"key": "Content-Type", "value": "application/x-www-form-urlencoded"}],
            "body": {
                "mode": "urlencoded",
                "urlencoded": [
                    {"key": "grant_type", "value": "client_credentials"},
                    {"key": "client_id", "value": "{{clientId}}"},
                    {"key": "client_secret", "value": "{{clientSecret}}"},
                ],
            },
            "url": {
                "raw": "{{baseUrl}}/oauth2/token",
                "host": ["{{baseUrl}}"],
                "path": ["oauth2", "token"],
            },
        },
        "event": [
            _script(
                "test",
                [
                    'pm.test("a token is issued (200)", function () {',
                    "    pm.response.to.have.status(200);",
                    "});",
                    'pm.test("the body is a TokenResponse", function () {',
                    f"    pm.response.to.have.jsonSchema({json.dumps(schema)});",
                    "});",
                    "const body = pm.response.json();",
                    'pm.collectionVariables.set("accessToken", body.access_token);',
                    'pm.collectionVariables.set("accessTokenExpiresAt", '
                    "String(Date.now() + body.expires_in * 1000));",
                ],
            )
        ],
    }


def collection(
    *, name: str, description: str, doc: dict[str, Any], operations: list[KitOperation]
) -> dict[str, Any]:
    """The Postman collection v2.1 of ``operations`` (one folder per national database)."""
    components = doc["components"]["schemas"]
    folders: dict[str, list[dict[str, Any]]] = {}
    variables: dict[str, str] = {"accessToken": "", "accessTokenExpiresAt": "0"}
    for op in operations:
        operation = doc["paths"][op.gateway_path][op.method.lower()]
        folders.setdefault(op.provider, []).append(_request(op, operation, components))
        for param in _path_params(op):
            value = op.sample.path_params.get(param, "") if op.sample else ""
            variables[variable(op, param)] = value
    return {
        "info": {
            "_postman_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ndxp-kit:{name}")),
            "name": name,
            "description": description,
            "schema": SCHEMA_URL,
        },
        "auth": {
            "type": "bearer",
            "bearer": [{"key": "token", "value": "{{accessToken}}", "type": "string"}],
        },
        "event": [_script("prerequest", PRE_REQUEST.splitlines())],
        "variable": [{"key": k, "value": v, "type": "string"} for k, v in variables.items()],
        "item": [
            {"name": "NDXP gateway", "item": [_token_item()]},
            *({"name": provider, "item": items} for provider, items in folders.items()),
        ],
    }


def environment(*, name: str, base_url: str, client_id: str, client_secret: str) -> dict[str, Any]:
    """The Postman environment: the gateway's URL and the consumer's credentials."""
    values = [
        {"key": "baseUrl", "value": base_url, "type": "default", "enabled": True},
        {"key": "clientId", "value": client_id, "type": "default", "enabled": True},
        {"key": "clientSecret", "value": client_secret, "type": "secret", "enabled": True},
    ]
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"ndxp-kit-env:{name}")),
        "name": name,
        "values": values,
        "_postman_variable_scope": "environment",
    }
