"""Classify every change between two OpenAPI documents as breaking or non-breaking.

``ndxp-sim contracts diff OLD NEW`` (FM-08: contracts changed without notice). No kept Python
library does this (oasdiff, the reference tool, is Go; the PyPI packages are years stale), so
the rules are here, modelled on oasdiff's ``breaking`` checks and stated in :data:`RULES`.

One principle decides most rules. A client breaks when a **response** can carry values it was
not written for (the value set *widens*: a removed or renamed field, a new enum value, a
looser pattern, a type change, a field that may now be null or absent), or when a **request**
it sends may be refused (the accepted set *narrows*: a new required field or parameter, an
enum value removed, a tighter pattern or bound, a type change). The opposite moves are
non-breaking. Operations are paired by method and path; the leading version segment
(``/v1``, ``/v2``) is ignored by default, as oasdiff's ``--strip-prefix-base`` does, so a
``/v1`` contract compares with its ``/v2`` successor.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

Severity = Literal["breaking", "non-breaking"]
Side = Literal["request", "response"]
_VERSION_SEGMENT = re.compile(r"^/v\d+(?=/)")
_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_BOUNDS_UP = ("maxLength", "maxItems", "maximum", "exclusiveMaximum")  # larger = wider
_MAX_DEPTH = 16  # nesting followed at most (a recursive schema ends there)
_BOUNDS_DOWN = ("minLength", "minItems", "minimum", "exclusiveMinimum")  # smaller = wider


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    severity: Severity
    change: str
    why: str


RULES: tuple[Rule, ...] = (
    Rule("operation-removed", "breaking", "an operation (method + path) is removed",
         "clients calling it get 404/405"),
    Rule("operation-added", "non-breaking", "an operation is added", "nobody calls it yet"),
    Rule("parameter-required-added", "breaking", "a new required parameter",
         "existing calls lack it and are refused"),
    Rule("parameter-optional-added", "non-breaking", "a new optional parameter",
         "existing calls still valid"),
    Rule("parameter-removed", "non-breaking", "a parameter is removed",
         "servers ignore extra query parameters"),
    Rule("request-body-required", "breaking", "the request body becomes required", ""),
    Rule("request-field-required-added", "breaking", "a new required request field",
         "existing requests lack it: 400/422"),
    Rule("request-field-optional-added", "non-breaking", "a new optional request field", ""),
    Rule("request-field-removed", "breaking", "a request field is removed from a closed object "
         "(additionalProperties: false)", "requests still sending it are refused"),
    Rule("request-field-removed-open", "non-breaking", "a request field is removed from an "
         "open object", "the server ignores it"),
    Rule("request-field-now-required", "breaking", "an optional request field becomes required",
         ""),
    Rule("request-field-now-optional", "non-breaking", "a required request field becomes "
         "optional", ""),
    Rule("response-field-removed", "breaking", "a response field is removed",
         "clients reading it find nothing"),
    Rule("response-field-renamed", "breaking", "a response field is renamed (removed + added "
         "with the same schema)", "clients read the old name"),
    Rule("response-field-added", "non-breaking", "a response field is added",
         "clients ignore fields they do not know (clients that refuse them must not)"),
    Rule("response-field-now-optional", "breaking", "a required response field may be absent",
         "clients relying on it fail"),
    Rule("response-field-now-required", "non-breaking", "an optional response field is always "
         "sent", ""),
    Rule("type-changed", "breaking", "a value's type or format changes (e.g. integer → array, "
         "date → partial-date string)", "both directions: parsers fail"),
    Rule("enum-widened", "breaking", "enum values added (response) / removed (request)",
         "a strict client meets a value it does not handle, or sends one now refused"),
    Rule("enum-narrowed", "non-breaking", "enum values removed (response) / added (request)", ""),
    Rule("constraint-widened", "breaking", "a pattern or bound loosened in a response, "
         "tightened in a request; a response value may now be null", ""),
    Rule("constraint-narrowed", "non-breaking", "a pattern or bound tightened in a response, "
         "loosened in a request; a request value may now be null", ""),
    Rule("response-status-removed", "breaking", "a success status or a media type is no longer "
         "answered", "clients expecting it fail"),
    Rule("response-status-added", "non-breaking", "a response status is added", ""),
)  # fmt: skip
RULES_BY_ID = {rule.id: rule for rule in RULES}


@dataclass(frozen=True, slots=True)
class Change:
    rule: str
    operation: str  # "GET /citizens/{personal_id}" (version segment stripped)
    where: str  # "response 200: household.relationship_to_head"
    detail: str

    @property
    def severity(self) -> Severity:
        return RULES_BY_ID[self.rule].severity

    def as_dict(self) -> dict[str, str]:
        return {**asdict(self), "severity": self.severity}


class ContractReadError(ValueError):
    """A file that is not a readable OpenAPI document."""


def load_document(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ContractReadError(f"{path}: cannot read: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("paths"), dict):
        raise ContractReadError(f"{path}: not an OpenAPI document (no `paths`)")
    return doc


def diff_documents(
    old: Mapping[str, Any], new: Mapping[str, Any], *, strip_version: bool = True
) -> list[Change]:
    """Every change from ``old`` to ``new``, breaking ones first, each with its rule."""
    old_ops, new_ops = _operations(old, strip_version), _operations(new, strip_version)
    changes: list[Change] = []
    for key in sorted(old_ops.keys() - new_ops.keys()):
        changes.append(Change("operation-removed", key, "", "no longer published"))
    for key in sorted(new_ops.keys() - old_ops.keys()):
        changes.append(Change("operation-added", key, "", "newly published"))
    for key in sorted(old_ops.keys() & new_ops.keys()):
        differ = _Differ(old, new, key)
        differ.operation(old_ops[key], new_ops[key])
        changes += differ.changes
    return sorted(changes, key=lambda c: (c.severity != "breaking",))


def _operations(doc: Mapping[str, Any], strip_version: bool) -> dict[str, dict[str, Any]]:
    found = {}
    for path, item in doc["paths"].items():
        shown = _VERSION_SEGMENT.sub("", path) if strip_version else path
        shared = item.get("parameters", [])
        for method in _METHODS:
            if method in item:
                op = dict(item[method])
                op["parameters"] = [*shared, *op.get("parameters", [])]
                found[f"{method.upper()} {shown}"] = op
    return found


class _Differ:
    """Compares one operation of two documents, resolving each side's ``$ref``s."""

    def __init__(self, old: Mapping[str, Any], new: Mapping[str, Any], operation: str) -> None:
        self.docs = (old, new)
        self.op = operation
        self.changes: list[Change] = []

    def add(self, rule: str, where: str, detail: str) -> None:
        self.changes.append(Change(rule, self.op, where, detail))

    def resolve(self, side: int, node: Any, seen: frozenset[str] = frozenset()) -> Any:
        while isinstance(node, dict) and "$ref" in node and node["$ref"] not in seen:
            ref = node["$ref"]
            seen = seen | {ref}
            target: Any = self.docs[side]
            for part in ref.removeprefix("#/").split("/"):
                target = target.get(part, {}) if isinstance(target, dict) else {}
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return node

    def operation(self, old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
        self.parameters(old["parameters"], new["parameters"])
        self.request_body(old.get("requestBody"), new.get("requestBody"))
        old_resp, new_resp = old.get("responses", {}), new.get("responses", {})
        for status in sorted(old_resp.keys() - new_resp.keys()):
            if str(status).startswith("2"):
                self.add("response-status-removed", f"response {status}", "no longer answered")
        for status in sorted(new_resp.keys() - old_resp.keys()):
            self.add("response-status-added", f"response {status}", "newly documented")
        for status in sorted(old_resp.keys() & new_resp.keys()):
            if str(status).startswith("2"):
                self.content(
                    f"response {status}",
                    self.resolve(0, old_resp[status]).get("content", {}),
                    self.resolve(1, new_resp[status]).get("content", {}),
                    "response",
                )

    def parameters(self, old: list[Any], new: list[Any]) -> None:
        olds = {(p["in"], p["name"]): p for p in (self.resolve(0, x) for x in old)}
        news = {(p["in"], p["name"]): p for p in (self.resolve(1, x) for x in new)}
        for key in sorted(olds.keys() - news.keys()):
            self.add("parameter-removed", f"{key[0]} parameter {key[1]}", "removed")
        for key in sorted(news.keys() - olds.keys()):
            required = news[key].get("required", False)
            rule = "parameter-required-added" if required else "parameter-optional-added"
            self.add(rule, f"{key[0]} parameter {key[1]}", "added, required" if required else
                     "added, optional")  # fmt: skip
        for key in sorted(olds.keys() & news.keys()):
            where = f"{key[0]} parameter {key[1]}"
            was, now = olds[key].get("required", False), news[key].get("required", False)
            if now and not was:
                self.add("request-field-now-required", where, "now required")
            elif was and not now:
                self.add("request-field-now-optional", where, "now optional")
            self.schema(where, olds[key].get("schema", {}), news[key].get("schema", {}), "request")

    def request_body(self, old: Any, new: Any) -> None:
        old, new = self.resolve(0, old or {}), self.resolve(1, new or {})
        if new.get("required") and not old.get("required"):
            self.add("request-body-required", "request body", "now required")
        self.content("request body", old.get("content", {}), new.get("content", {}), "request")

    def content(
        self, where: str, old: Mapping[str, Any], new: Mapping[str, Any], side: Side
    ) -> None:
        for media in sorted(old.keys() - new.keys()):
            if side == "response":
                self.add("response-status-removed", where, f"{media} no longer answered")
        for media in sorted(old.keys() & new.keys()):
            self.schema(where, old[media].get("schema", {}), new[media].get("schema", {}), side)

    def schema(self, where: str, old: Any, new: Any, side: Side, field: str = "") -> None:
        old_s, old_null = _unwrap(self.resolve(0, old))
        new_s, new_null = _unwrap(self.resolve(1, new))
        old_s, new_s = self.resolve(0, old_s), self.resolve(1, new_s)
        at = f"{where}: {field}" if field else where
        if old_null != new_null:
            widened = new_null  # null is one more value
            self.bound(at, side, widened, "may now be null" if new_null else "no longer null")
        if _kind(old_s) != _kind(new_s):
            self.add("type-changed", at, f"{_kind_text(old_s)} → {_kind_text(new_s)}")
            return
        self.enum(at, old_s.get("enum"), new_s.get("enum"), side)
        if old_s.get("pattern") != new_s.get("pattern"):
            self.pattern(at, old_s.get("pattern"), new_s.get("pattern"), side)
        for key in (*_BOUNDS_UP, *_BOUNDS_DOWN):
            a, b = old_s.get(key), new_s.get(key)
            if a != b:
                up = key in _BOUNDS_UP
                wider = b is None or (a is not None and (b > a if up else b < a))
                self.bound(at, side, wider, f"{key} {a} → {b}")
        if "items" in old_s or "items" in new_s:
            self.schema(where, old_s.get("items", {}), new_s.get("items", {}), side, f"{field}[]")
        if "properties" in old_s or "properties" in new_s:
            self.properties(where, old_s, new_s, side, field)
        composed = any(k in old_s or k in new_s for k in ("anyOf", "oneOf", "allOf"))
        if composed and self._canonical(0, old_s) != self._canonical(1, new_s):
            self.add("type-changed", at, "composed schema (anyOf/oneOf/allOf) changed")

    def _canonical(self, side: int, node: Any) -> str:
        def walk(value: Any, depth: int) -> Any:
            value = self.resolve(side, value) if depth < 12 else value
            if isinstance(value, dict):
                return {k: walk(v, depth + 1) for k, v in value.items()
                        if k not in ("description", "title", "examples", "example")}  # fmt: skip
            if isinstance(value, list):
                return [walk(v, depth + 1) for v in value]
            return value

        return json.dumps(walk(node, 0), sort_keys=True)

    def enum(self, at: str, old: Any, new: Any, side: Side) -> None:
        if old is None and new is None:
            return
        if old is None or new is None:  # an enum imposed or lifted: a narrowing or a widening
            self.bound(at, side, old is not None, "enum lifted" if new is None else "enum imposed")
            return
        added = [v for v in new if v not in old]
        removed = [v for v in old if v not in new]
        if added:
            rule = "enum-widened" if side == "response" else "enum-narrowed"
            self.add(rule, at, f"enum values added: {', '.join(map(str, added))}")
        if removed:
            rule = "enum-narrowed" if side == "response" else "enum-widened"
            self.add(rule, at, f"enum values removed: {', '.join(map(str, removed))}")

    def pattern(self, at: str, old: Any, new: Any, side: Side) -> None:
        # A pattern added narrows; removed widens; replaced: treated as a widening (unknown).
        wider = new is None or old is not None
        self.bound(at, side, wider, f"pattern {old!r} → {new!r}")

    def bound(self, at: str, side: Side, widened: bool, detail: str) -> None:
        breaking = widened == (side == "response")
        self.add("constraint-widened" if breaking else "constraint-narrowed", at, detail)

    def properties(self, where: str, old: Any, new: Any, side: Side, field: str) -> None:
        olds, news = old.get("properties", {}), new.get("properties", {})
        old_req, new_req = set(old.get("required", [])), set(new.get("required", []))
        removed = sorted(olds.keys() - news.keys())
        added = sorted(news.keys() - olds.keys())
        renamed = self._renames(olds, news, removed, added) if side == "response" else {}
        prefix = f"{field}." if field else ""
        for before, after in renamed.items():
            self.add("response-field-renamed", f"{where}: {prefix}{before}", f"renamed → {after}")
        for name in (n for n in removed if n not in renamed):
            rule = "response-field-removed"
            if side == "request":
                closed = new.get("additionalProperties") is False
                rule = "request-field-removed" if closed else "request-field-removed-open"
            self.add(rule, f"{where}: {prefix}{name}", "removed")
        for name in (n for n in added if n not in renamed.values()):
            required = name in new_req
            rule = "response-field-added"
            if side == "request":
                rule = (
                    "request-field-required-added" if required else "request-field-optional-added"
                )
            self.add(
                rule, f"{where}: {prefix}{name}", f"added, {'required' if required else 'optional'}"
            )
        for name in sorted(olds.keys() & news.keys()):
            was, now = name in old_req, name in new_req
            if was != now:
                rule = {
                    ("response", True): "response-field-now-optional",
                    ("response", False): "response-field-now-required",
                    ("request", True): "request-field-now-optional",
                    ("request", False): "request-field-now-required",
                }[(side, was)]
                self.add(
                    rule, f"{where}: {prefix}{name}", "now optional" if was else "now required"
                )
            if field.count(".") < _MAX_DEPTH:
                self.schema(where, olds[name], news[name], side, f"{prefix}{name}")

    def _renames(
        self, olds: Mapping[str, Any], news: Mapping[str, Any], removed: list[str], added: list[str]
    ) -> dict[str, str]:
        """Removed → added field pairs with the same schema (descriptions aside)."""
        found: dict[str, str] = {}
        for before in removed:
            shape = self._canonical(0, olds[before])
            match = next(
                (
                    a
                    for a in added
                    if a not in found.values() and self._canonical(1, news[a]) == shape
                ),
                None,
            )
            if match is not None:
                found[before] = match
        return found


def _unwrap(schema: Any) -> tuple[dict[str, Any], bool]:
    """``anyOf: [X, {type: null}]`` (pydantic's Optional) → (X, nullable); const → enum."""
    if not isinstance(schema, dict):
        return {}, False
    nullable = False
    options = schema.get("anyOf")
    if isinstance(options, list) and any(o == {"type": "null"} for o in options):
        rest = [o for o in options if o != {"type": "null"}]
        nullable = True
        base = {k: v for k, v in schema.items() if k != "anyOf"}
        schema = {**base, **rest[0]} if len(rest) == 1 else {**base, "anyOf": rest}
    if isinstance(schema.get("type"), list) and "null" in schema["type"]:
        types = [t for t in schema["type"] if t != "null"]
        schema = {**schema, "type": types[0] if len(types) == 1 else types}
        nullable = True
    if "const" in schema:
        schema = {**{k: v for k, v in schema.items() if k != "const"}, "enum": [schema["const"]]}
    return schema, nullable


def _kind(schema: Mapping[str, Any]) -> tuple[Any, Any]:
    kind = schema.get("type")
    if kind is None and "properties" in schema:
        kind = "object"
    return (json.dumps(kind), schema.get("format"))


def _kind_text(schema: Mapping[str, Any]) -> str:
    kind, fmt = _kind(schema)
    text = json.loads(kind) or "any"
    if fmt:
        return f"{text} ({fmt})"
    return f"{text} /{schema['pattern']}/" if "pattern" in schema else str(text)
