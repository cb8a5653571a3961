"""The scenario catalogue (*kịch bản lỗi*): YAML files in ``scenarios/``, one scenario per file,
each citing the report rows it reproduces.

A file ``scenarios/<id>.yaml`` holds::

    id: fm-01                       # = the file name
    title: Business registration slow and timing out
    description: What a province sees, in a few sentences.
    source: ["003 Phụ lục V row 20 (Thanh Hóa)"]   # required when there are rules
    seed: 2024                      # with the rule id, seeds each rule's own generator
    rules: [...]                    # see mock_services.fault_specs.Rule

Loading validates the shape (pydantic) and then what pydantic cannot know: every operation
exists in ``contracts/catalogue.py``, every JSON path exists in the operation's response model,
provinces are real, rule ids are unique. A bad file is refused with one line per problem,
``file:line: field: message`` — pydantic's error locations are mapped back to the YAML nodes'
start marks. The same validation serves scenarios sent as JSON to a mock's admin route.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, ValidationError, model_validator
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from contracts.catalogue import Provider, operation, operations_of
from contracts.provinces import PROVINCES
from mock_services.fault_specs import FAULT_KINDS, RULE_ID_PATTERN, Rule, Spec

SCENARIOS_DIR = Path(__file__).resolve().parents[1] / "scenarios"
Loc = tuple[str | int, ...]
_PROVINCE_CODES = frozenset(p.code for p in PROVINCES)


class Scenario(Spec):
    """A named set of fault rules, citing the reports it reproduces."""

    id: str = Field(pattern=RULE_ID_PATTERN, description="The file name without .yaml.")
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)
    source: tuple[str, ...] = Field(
        default=(), description="Report rows, e.g. 003 Phụ lục V row 20."
    )
    seed: int = Field(default=2024, description="Seeds each rule's generator, with its id.")
    rules: tuple[Rule, ...] = ()

    @model_validator(mode="after")
    def _cites_its_reports(self) -> Scenario:
        if self.rules and not self.source:
            raise ValueError("a scenario with rules cites the report rows it reproduces (source)")
        return self

    def rules_for(self, provider: str, hop: str = "database") -> tuple[Rule, ...]:
        """The rules for calls to ``provider``'s operations that strike at ``hop``."""
        return tuple(
            rule for rule in self.rules if rule.match.provider == provider and rule.match.hop == hop
        )

    @property
    def failure_modes(self) -> tuple[str, ...]:
        return tuple(sorted({rule.failure_mode for rule in self.rules if rule.failure_mode}))


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem of a scenario: where (file, line, field) and what."""

    origin: str
    line: int | None
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.origin}:{self.line}" if self.line is not None else self.origin
        return f"{where}: {self.field or '(scenario)'}: {self.message}"


class ScenarioError(ValueError):
    """A scenario was refused; ``issues`` says where and why, one line each."""

    def __init__(self, issues: Sequence[Issue]) -> None:
        self.issues = tuple(issues)
        super().__init__("\n".join(str(issue) for issue in self.issues))


# -- YAML with line numbers ---------------------------------------------------------------


class _Loader(yaml.SafeLoader):
    """SafeLoader that reads ``11:30`` as the string it looks like.

    YAML 1.1 resolves ``11:30`` as a base-60 integer (690), which would make every unquoted
    time of day a puzzling error.
    """


# A copy, so the change below stays ours and SafeLoader keeps YAML 1.1's rules.
_Loader.yaml_implicit_resolvers = {
    key: list(value) for key, value in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
for _digit in "0123456789":
    _Loader.yaml_implicit_resolvers.setdefault(_digit, []).insert(
        0, ("tag:yaml.org,2002:str", re.compile(r"^\d{1,2}:\d{2}$"))
    )


def _compose(text: str, origin: str) -> tuple[Any, Node | None]:
    """The data and the node tree (for line numbers) of one YAML document."""
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        raise ScenarioError([Issue(origin, line, "", f"not valid YAML: {exc.problem}")]) from None
    finally:
        loader.dispose()
    return data, node


def _locate(node: Node | None, loc: Loc) -> tuple[int | None, str]:
    """The line of the deepest node ``loc`` reaches, and ``loc`` as a field name.

    Parts not found in the YAML are union tags (a fault kind: left out) or a missing key
    (named, at the line of the object that lacks it).
    """
    line = node.start_mark.line + 1 if node is not None else None
    parts: list[str] = []
    current = node
    for number, part in enumerate(loc):
        child: Node | None = None
        if isinstance(current, MappingNode):
            for key, value in current.value:
                if isinstance(key, ScalarNode) and key.value == str(part):
                    child, line = value, key.start_mark.line + 1
        elif (
            isinstance(current, SequenceNode)
            and isinstance(part, int)
            and 0 <= part < len(current.value)
        ):
            child = current.value[part]
            line = child.start_mark.line + 1
        union_tag = isinstance(part, str) and part in FAULT_KINDS
        if child is not None:
            current = child
        elif union_tag or (node is not None and number < len(loc) - 1):
            continue
        parts.append(f"[{part}]" if isinstance(part, int) else f".{part}")
    return line, "".join(parts).lstrip(".")


# -- what pydantic cannot check -----------------------------------------------------------


def _operation_issues(number: int, rule: Rule) -> Iterable[tuple[Loc, str]]:
    here: Loc = ("rules", number)
    provider: Provider = rule.match.provider
    known = [op.operation_id for op in operations_of(provider)]
    for index, operation_id in enumerate(rule.match.operations):
        if operation_id not in known:
            yield (
                (*here, "match", "operations", index),
                f"{provider} has no operation {operation_id!r}; it has {', '.join(known)}",
            )
    for index, province in enumerate(rule.match.provinces):
        if province not in _PROVINCE_CODES:
            yield (*here, "match", "provinces", index), f"{province!r} is not a province code"
    fault = rule.fault
    if not fault.needs_operations:
        return
    if not rule.match.operations:
        yield (
            (*here, "match", "operations"),
            f"name the operations whose responses a {fault.kind} rule changes",
        )
        return
    for index, operation_id in enumerate(rule.match.operations):
        if operation_id not in known:
            continue
        for loc, why in fault.operation_issues(operation(provider, operation_id)):
            yield ((*here, *loc) if loc else (*here, "match", "operations", index)), why


def semantic_issues(rules: Iterable[tuple[int, Rule]]) -> list[tuple[Loc, str]]:
    """What makes well-formed rules unusable: unknown operations, paths, provinces; reused ids.

    ``rules`` are (position in the file, rule), so that a file whose other rules are
    malformed still gets these checks on the rules that are well formed.
    """
    found: list[tuple[Loc, str]] = []
    seen: set[str] = set()
    for number, rule in rules:
        if rule.id in seen:
            found.append((("rules", number, "id"), f"rule id {rule.id!r} is used twice"))
        seen.add(rule.id)
        found.extend(_operation_issues(number, rule))
    return found


def _well_formed_rules(data: Any) -> Iterable[tuple[int, Rule]]:
    rules = data.get("rules") if isinstance(data, dict) else None
    for number, raw in enumerate(rules if isinstance(rules, list) else []):
        try:
            yield number, Rule.model_validate(raw)
        except ValidationError:
            continue


def _shape_issues(exc: ValidationError, origin: str, node: Node | None) -> list[Issue]:
    errors = exc.errors()
    locs = [tuple(error["loc"]) for error in errors]
    issues = []
    for error, loc in zip(errors, locs, strict=True):
        if any(len(other) > len(loc) and other[: len(loc)] == loc for other in locs):
            continue  # a consequence of a deeper error (a tuple left short by a bad item)
        issues.append(Issue(origin, *_locate(node, loc), error["msg"]))
    return issues


# -- entry points -------------------------------------------------------------------------


def parse_scenario(data: Any, *, origin: str = "<scenario>", node: Node | None = None) -> Scenario:
    """Validate decoded data (from YAML or JSON) as a scenario, or raise :class:`ScenarioError`.

    Every problem is reported at once: the shape errors, and the semantic ones of the rules
    that are well formed.
    """
    try:
        scenario: Scenario | None = Scenario.model_validate(data)
    except ValidationError as exc:
        scenario, issues = None, _shape_issues(exc, origin, node)
    else:
        issues = []
    rules = enumerate(scenario.rules) if scenario else _well_formed_rules(data)
    issues += [Issue(origin, *_locate(node, loc), why) for loc, why in semantic_issues(rules)]
    if issues:
        raise ScenarioError(sorted(issues, key=lambda issue: issue.line or 0))
    assert scenario is not None
    return scenario


def load_scenario_file(path: Path) -> Scenario:
    """One scenario file, validated; its ``id`` must be its file name."""
    origin = str(path)
    data, node = _compose(path.read_text(encoding="utf-8"), origin)
    scenario = parse_scenario(data, origin=origin, node=node)
    if scenario.id != path.stem:
        line, field = _locate(node, ("id",))
        raise ScenarioError(
            [
                Issue(
                    origin,
                    line,
                    field,
                    f"id {scenario.id!r} differs from the file name {path.stem!r}",
                )
            ]
        )
    return scenario


def load_catalogue(directory: Path = SCENARIOS_DIR) -> dict[str, Scenario]:
    """Every ``*.yaml`` scenario of the folder, by id; all problems of all files at once."""
    found: dict[str, Scenario] = {}
    issues: list[Issue] = []
    for path in sorted(directory.glob("*.yaml")):
        try:
            found[path.stem] = load_scenario_file(path)
        except ScenarioError as exc:
            issues.extend(exc.issues)
    if issues:
        raise ScenarioError(issues)
    return found


def find_scenario(name: str, directory: Path = SCENARIOS_DIR) -> Scenario:
    """The scenario named ``name`` (its id), or a path to a scenario file."""
    path = Path(name)
    if path.suffix not in (".yaml", ".yml"):
        path = directory / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in directory.glob("*.yaml")))
        raise ScenarioError([Issue(name, None, "", f"no such scenario; choose one of {known}")])
    return load_scenario_file(path)


__all__ = [
    "SCENARIOS_DIR",
    "Issue",
    "Scenario",
    "ScenarioError",
    "find_scenario",
    "load_catalogue",
    "load_scenario_file",
    "parse_scenario",
]
