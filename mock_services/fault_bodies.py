"""Faults in a response body: JSON paths into the contract models, dropped fields, emptied lists,
and dossier statuses that are hidden or stop advancing (*trạng thái không được đồng bộ*).

A path names fields from the top of the JSON body: dotted names, ``[*]`` for every element of
a list — ``phone``, ``father.date_of_birth``, ``items[*].phone``, ``components[*].file_id``.
:func:`check_path` holds a path against a pydantic contract model when a scenario is loaded,
so a typo is refused with the file and line instead of silently dropping nothing; the
``apply`` functions then work on the decoded JSON of a real response.
"""

from __future__ import annotations

import re
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union, get_args, get_origin

from pydantic import BaseModel, TypeAdapter, ValidationError

PATH_PATTERN = r"^[a-z_][a-z0-9_]*(\[\*\])?(\.[a-z_][a-z0-9_]*(\[\*\])?)*$"
_STEP = re.compile(r"^([a-z_][a-z0-9_]*)(\[\*\])?$")
# A frozen registration reports only the transitions into these statuses (the first ones of
# every lifecycle: received (2), then processing (4)).
FROZEN_PREFIX: dict[str, frozenset[str]] = {
    "received": frozenset({"received"}),
    "processing": frozenset({"received", "processing"}),
}


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    each: bool  # ``name[*]``: the field is a list, descend into every element


def parse_path(path: str) -> tuple[Step, ...]:
    """``"items[*].phone"`` → ``(Step("items", True), Step("phone", False))``."""
    if not re.match(PATH_PATTERN, path):
        raise ValueError(f"{path!r} is not a JSON path like items[*].phone or father.date_of_birth")
    steps = []
    for part in path.split("."):
        found = _STEP.match(part)
        assert found is not None  # PATH_PATTERN guarantees it
        steps.append(Step(found.group(1), found.group(2) is not None))
    return tuple(steps)


def _without_none(annotation: Any) -> Any:
    """``X | None`` → ``X`` (nullable fields are still fields)."""
    if get_origin(annotation) in (Union, types.UnionType):
        args = [arg for arg in get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def check_path(model: type[BaseModel], path: str, *, want_list: bool = False) -> str | None:
    """Why ``path`` does not name a field of ``model`` (None when it does).

    ``want_list``: the last field must itself be a list (for ``empty_list``). A path never
    ends in ``[*]``: it names fields, not list elements.
    """
    try:
        steps = parse_path(path)
    except ValueError as exc:
        return str(exc)
    current: Any = model
    for number, step in enumerate(steps):
        where = ".".join(s.name + ("[*]" if s.each else "") for s in steps[:number]) or "the body"
        if not _is_model(current):
            return f"{path}: {where} is not an object"
        field = current.model_fields.get(step.name)
        if field is None:
            known = ", ".join(current.model_fields)
            return f"{path}: {current.__name__} has no field {step.name!r} (it has {known})"
        annotation = _without_none(field.annotation)
        if step.each:
            if get_origin(annotation) is not list:
                return f"{path}: {current.__name__}.{step.name} is not a list"
            if number == len(steps) - 1:
                return f"{path}: name a field, not the elements of a list"
            annotation = _without_none(get_args(annotation)[0])
        current = annotation
    if want_list and get_origin(current) is not list:
        return f"{path}: not a list"
    return None


def check_value(model: type[BaseModel], path: str, value: Any) -> str | None:
    """Why ``value`` cannot stand at ``path`` of ``model`` (None when the contract allows it).

    A wrong value must still keep the contract: it is wrong, not malformed.
    """
    why = check_path(model, path)
    if why is not None:
        return why
    current: Any = model
    annotation: Any = None
    for step in parse_path(path):
        annotation = current.model_fields[step.name].annotation
        current = _without_none(annotation)
        if step.each:
            current = _without_none(get_args(current)[0])
    try:
        TypeAdapter(annotation).validate_python(value)
    except ValidationError as exc:
        return f"{path}: {value!r} breaks the contract ({exc.errors()[0]['msg']})"
    return None


def set_fields(body: Any, values: dict[str, Any]) -> int:
    """Put each value at its path wherever it differs; how many fields changed."""

    def setter(value: Any) -> Callable[[dict[str, Any], str], bool]:
        def put(parent: dict[str, Any], name: str) -> bool:
            if parent[name] == value:
                return False
            parent[name] = value
            return True

        return put

    return sum(_walk(body, parse_path(path), setter(value)) for path, value in values.items())


def _walk(node: Any, steps: tuple[Step, ...], act: Callable[[dict[str, Any], str], bool]) -> int:
    """Apply ``act(parent, name)`` at every place the path reaches; the count of changes."""
    step, rest = steps[0], steps[1:]
    if not isinstance(node, dict) or step.name not in node:
        return 0
    if not rest:
        return int(act(node, step.name))
    child = node[step.name]
    if step.each:
        return sum(_walk(element, rest, act) for element in child) if isinstance(child, list) else 0
    return _walk(child, rest, act)


def at_path(body: Any, path: str, act: Callable[[dict[str, Any], str], bool]) -> int:
    """Apply ``act(parent, name)`` wherever ``path`` reaches in ``body``; how many changed."""
    return _walk(body, parse_path(path), act)


def drop_fields(body: Any, paths: tuple[str, ...]) -> int:
    """Remove every field the paths name; how many were removed (0: nothing to drop)."""

    def drop(parent: dict[str, Any], name: str) -> bool:
        del parent[name]
        return True

    return sum(_walk(body, parse_path(path), drop) for path in paths)


def empty_lists(body: Any, paths: tuple[str, ...]) -> int:
    """Empty the non-empty lists the paths name; a page says there is nothing at all."""

    def empty(parent: dict[str, Any], name: str) -> bool:
        if not isinstance(parent[name], list) or not parent[name]:
            return False
        parent[name] = []
        return True

    emptied = sum(_walk(body, parse_path(path), empty) for path in paths)
    if emptied and isinstance(body, dict) and body.get("items") == []:
        # A page (DossierPage, StatusChangePage) that lost its items must not promise more.
        for key, nothing in (("total", 0), ("has_more", False), ("next_cursor", None)):
            if key in body:
                body[key] = nothing
    return emptied


@dataclass(frozen=True, slots=True)
class Staleness:
    """What a ``stale_status`` rule hides, and which registrations it concerns."""

    hidden: frozenset[str]
    frozen_at: str | None
    concerns: Callable[[str], bool]  # registration id → is this one stale?

    def reports(self, status: str) -> bool:
        if status in self.hidden:
            return False
        return self.frozen_at is None or status in FROZEN_PREFIX[self.frozen_at]


def _record_id(record: dict[str, Any]) -> str:
    return str(record.get("registration_id") or record.get("dossier_id"))


def stale_record(record: dict[str, Any], staleness: Staleness) -> bool:
    """Rewrite a record with a ``history`` — a civil-registry registration, a renewal dossier,
    a business dossier's detail — as a province that missed the hidden steps sees it."""
    if not staleness.concerns(_record_id(record)):
        return False
    history: list[dict[str, Any]] = record.get("history") or []
    kept: list[dict[str, Any]] = []
    for transition in history:
        status = transition["status"]
        if not staleness.reports(status):
            if staleness.frozen_at is not None and status not in staleness.hidden:
                break  # frozen: nothing after the first step past the frozen status
            continue
        if kept and kept[-1]["status"] == status:
            continue  # a hidden pause leaves "processing" twice in a row: report it once
        kept.append(transition)
    if len(kept) == len(history) or not kept:
        return False
    last = kept[-1]
    at = {t["status"]: t["at"] for t in kept}
    record.update(history=kept, status=last["status"])
    # Fields of a civil-registry registration that follow its status.
    for key, value in (
        ("status_code", last["status_code"]),
        ("status_changed_at", last["at"]),
        ("processed_at", at.get("processed")),
        ("returned_at", at.get("returned")),
    ):
        if key in record:
            record[key] = value
    if "result" in record and "processed" not in at:
        record["result"] = None
    return True


def stale_page(page: dict[str, Any], staleness: Staleness) -> bool:
    """A page of records with histories (renewal dossiers), each rewritten on its own."""
    items: list[dict[str, Any]] = page.get("items") or []
    return sum(stale_record(item, staleness) for item in items) > 0


def stale_status_changes(page: dict[str, Any], staleness: Staleness) -> bool:
    """Leave out of a StatusChangePage the transitions a stale registration never reports.

    ``next_cursor`` is kept: the sync job moves past them and never sees them again.
    """
    items: list[dict[str, Any]] = page.get("items") or []
    kept = [
        item
        for item in items
        if staleness.reports(item["status"])
        or not staleness.concerns(str(item.get("registration_id")))
    ]
    if len(kept) == len(items):
        return False
    page["items"] = kept
    return True
