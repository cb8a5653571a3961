"""Contract drift (FM-08): a national database changes its contract without notice.

The provinces' complaint (REPORTS.md FM-08, 003 Phụ lục V row 42: the connection documents
"phải điều chỉnh nhiều lần") is a contract that moves under a working integration. Each kind
here is one such move, applied to the answers (or the requests) of an operation whose
published contract did not change:

``rename_field``   a field comes back under a new name;
``change_type``    a value comes back as another JSON type (an amount as a string);
``change_enum``    an enumerated value is spelled another way (``B2`` → ``B``);
``date_format``    a date or timestamp in a local format (``17/05/1957``);
``require_field``  the database starts refusing requests without a field the contract lacks.

The first four keep the answer a 2xx: the gateway's contract check (strict, as the contract
says) flags the paths in ``X-NDXP-Contract-Violations`` and the exchange record, and the
report counts them as ``contract_drift`` of the rule. ``require_field`` answers 400/422
``invalid_request`` itself; the gateway passes it on (``upstream_rejected``) and, the request
being valid by the contract, flags ``request: refused a contract-valid request (missing: …)``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator
from starlette.responses import Response

from contracts.catalogue import Operation
from contracts.common import FieldError, Problem
from contracts.headers import REFUSED_VALID_REQUEST
from mock_services.fault_base import Applying, Body, FaultKind, Loc, Phase, path_issues
from mock_services.fault_bodies import at_path, check_value
from mock_services.service import problem_response

NAME_PATTERN = r"^[a-z_][a-z0-9_]*$"
_DRIFT_SPOILS = "contract_drift"
_NAMES = re.compile(r"[\w.\[\]]+")  # the field paths in a flagged refusal's parentheses


def _reported(path: str) -> str:
    """A rule's path as the gateway reports a violation there (``items[*].x`` → ``items[].x``)."""
    return path.replace("[*]", "[]")


class _Drift(FaultKind):
    """A 2xx answer rewritten so that it breaks the operation's published contract."""

    PHASE: ClassVar[Phase] = "body"
    failure_mode: ClassVar[str] = "FM-08"
    spoils: ClassVar[str | None] = _DRIFT_SPOILS
    needs_operations: ClassVar[bool] = True

    def flagged(self) -> set[str]:
        """The violation paths the gateway reports for this drift."""
        return set()

    def explains(self, violations: Iterable[str]) -> tuple[str, ...]:
        named = self.flagged()
        return tuple(v for v in violations if v in named)

    def _rewrite(self, body: Body, paths: Iterable[str], new: Any) -> bool:
        """Put ``new(value)`` at each path where it differs from the value; True if any did."""
        data = body.data()
        if data is None:
            return False

        def act(parent: dict[str, Any], name: str) -> bool:
            value = parent[name]
            changed = new(value)
            # JSON, not Python, equality: 135000.0 is another value than 135000 on the wire.
            if value is None or changed is None or json.dumps(changed) == json.dumps(value):
                return False
            parent[name] = changed
            return True

        return sum(at_path(data, path, act) for path in paths) > 0


class RenameField(_Drift):
    """Send fields under new names, e.g. ``id_card_issue_date`` as ``id_card_issued_on``."""

    sees: ClassVar[str] = (
        "200 with the field under its new name; the gateway flags the old name (missing) and "
        "the new one (unknown)"
    )

    kind: Literal["rename_field"]
    renames: dict[str, str] = Field(
        min_length=1, description="JSON path → the field's new name (same parent object)."
    )

    @model_validator(mode="after")
    def _names(self) -> RenameField:
        for path, name in self.renames.items():
            if not re.match(NAME_PATTERN, name):
                raise ValueError(f"renames.{path}: {name!r} is not a field name")
        return self

    def alter(self, at: Applying, body: Body) -> bool:
        data = body.data()
        if data is None:
            return False
        changed = 0
        for path, name in self.renames.items():

            def act(parent: dict[str, Any], old: str, name: str = name) -> bool:
                parent[name] = parent.pop(old)
                return True

            changed += at_path(data, path, act)
        return changed > 0

    def flagged(self) -> set[str]:
        found = set()
        for path, name in self.renames.items():
            parent, _, _ = _reported(path).rpartition(".")
            found |= {_reported(path), f"{parent}.{name}" if parent else name}
        return found

    def operation_issues(self, op: Operation) -> Iterable[tuple[Loc, str]]:
        return path_issues(op, "renames", tuple(self.renames), want_list=False)

    def summary(self) -> str:
        shown = ", ".join(f"`{p}` as `{n}`" for p, n in self.renames.items())
        return f"200 with {shown}"


def _as_type(to: str, value: Any) -> Any:
    if to == "string":
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if to == "number":
        try:
            return float(value)
        except (TypeError, ValueError):
            return None
    if to == "array":
        return [value]
    return {"value": value}


class ChangeType(_Drift):
    """Send values as another JSON type: an amount as a string, a value wrapped in a list."""

    sees: ClassVar[str] = "200 with the values retyped; the gateway flags each path"

    kind: Literal["change_type"]
    paths: tuple[str, ...] = Field(min_length=1, description="JSON paths of the values.")
    to: Literal["string", "number", "array", "object"] = Field(
        description="The JSON type sent instead (number: 135000 as 135000.0 breaks an integer)."
    )

    def alter(self, at: Applying, body: Body) -> bool:
        return self._rewrite(body, self.paths, lambda value: _as_type(self.to, value))

    def flagged(self) -> set[str]:
        return {_reported(p) for p in self.paths}

    def operation_issues(self, op: Operation) -> Iterable[tuple[Loc, str]]:
        return path_issues(op, "paths", self.paths, want_list=False)

    def summary(self) -> str:
        return f"200 with {', '.join(f'`{p}`' for p in self.paths)} as {self.to}"


class ChangeEnum(_Drift):
    """Spell enumerated values another way (``B2`` → ``B``), values the contract refuses."""

    sees: ClassVar[str] = "200 with enum values the contract does not list; flagged per path"

    kind: Literal["change_enum"]
    paths: tuple[str, ...] = Field(min_length=1, description="JSON paths of the values.")
    mapping: dict[str, str] = Field(min_length=1, description="Contract value → value sent.")

    def alter(self, at: Applying, body: Body) -> bool:
        return self._rewrite(body, self.paths, lambda value: self.mapping.get(value, value))

    def flagged(self) -> set[str]:
        return {_reported(p) for p in self.paths}

    def operation_issues(self, op: Operation) -> Iterable[tuple[Loc, str]]:
        yield from path_issues(op, "paths", self.paths, want_list=False)
        model = op.load_response_model()
        if model is None:
            return
        for path in self.paths:
            for old, new in self.mapping.items():
                if check_value(model, path, old) is not None:
                    yield ("fault", "mapping", old), f"{path}: {old!r} is not a contract value"
                elif check_value(model, path, new) is None:
                    yield (
                        ("fault", "mapping", old),
                        f"{path}: {new!r} keeps the contract (a wrong value: use wrong_value)",
                    )

    def summary(self) -> str:
        shown = ", ".join(f"{old} → {new}" for old, new in self.mapping.items())
        return f"200 with {', '.join(f'`{p}`' for p in self.paths)} spelt {shown}"


def _reformat(fmt: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    with_time = "T" in value
    if fmt == "unix_ms":
        aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
        return int(aware.timestamp() * 1000)
    day = date(moment.year, moment.month, moment.day)
    if fmt == "dd/mm/yyyy":
        return f"{day:%d/%m/%Y}" + (f" {moment:%H:%M:%S}" if with_time else "")
    return f"{day:%Y%m%d}" + (f"{moment:%H%M%S}" if with_time else "")


class DateFormat(_Drift):
    """Send dates and timestamps in another format: ``17/05/1957``, ``19570517``, epoch ms."""

    sees: ClassVar[str] = "200 with dates in a local format; the gateway flags each path"

    kind: Literal["date_format"]
    paths: tuple[str, ...] = Field(min_length=1, description="JSON paths of dates/timestamps.")
    format: Literal["dd/mm/yyyy", "yyyymmdd", "unix_ms"] = Field(
        default="dd/mm/yyyy",
        description="dd/mm/yyyy (and HH:MM:SS for a timestamp, its own offset's local time), "
        "yyyymmdd (HHMMSS), or milliseconds since 1970 as a number.",
    )

    def alter(self, at: Applying, body: Body) -> bool:
        return self._rewrite(body, self.paths, lambda value: _reformat(self.format, value))

    def flagged(self) -> set[str]:
        return {_reported(p) for p in self.paths}

    def operation_issues(self, op: Operation) -> Iterable[tuple[Loc, str]]:
        return path_issues(op, "paths", self.paths, want_list=False)

    def summary(self) -> str:
        return f"200 with {', '.join(f'`{p}`' for p in self.paths)} as {self.format}"


class RequireField(FaultKind):
    """Refuse requests that lack a field the published contract does not have — the database
    started demanding it without notice. Requests that carry it go through."""

    PHASE: ClassVar[Phase] = "answer"
    failure_mode: ClassVar[str] = "FM-08"
    outcomes: ClassVar[frozenset[str]] = frozenset({"upstream_rejected"})
    needs_operations: ClassVar[bool] = True
    sees: ClassVar[str] = (
        "400/422 `invalid_request` naming a field the contract lacks (passed on by the "
        "gateway: `upstream_rejected`)"
    )

    kind: Literal["require_field"]
    field: str = Field(pattern=NAME_PATTERN, description="The field now demanded.")
    where: Literal["body", "query"] = Field(default="body", description="Body or query.")
    status: Literal[400, 422] = 422

    async def answer(self, at: Applying) -> Response | None:
        if self.where == "query":
            if self.field in at.request.query_params:
                return None
        else:
            try:
                data = json.loads(await at.request.body() or b"null")
            except ValueError:
                return None  # unparseable: the handler's own 400
            if isinstance(data, dict) and self.field in data:
                # The drifted database takes the field; the handler keeps the published
                # contract, so it reads the body without it (Starlette caches the body here).
                del data[self.field]
                at.request._body = json.dumps(data).encode()
                return None
        at.mark()
        problem = Problem(
            title="Invalid request",
            status=self.status,
            code="invalid_request",
            detail=f"{self.where}.{self.field}: Field required",
            errors=[FieldError(loc=[self.where, self.field], msg="Field required", type="missing")],
        )
        return problem_response(problem)

    def explains(self, violations: Iterable[str]) -> tuple[str, ...]:
        """The gateway's ``request: refused a contract-valid request (missing: <field>)``."""
        return tuple(
            v
            for v in violations
            if v.startswith(REFUSED_VALID_REQUEST)
            and self.field in _NAMES.findall(v.removeprefix(REFUSED_VALID_REQUEST))
        )

    def operation_issues(self, op: Operation) -> Iterable[tuple[Loc, str]]:
        if self.where == "body" and op.method != "POST":
            yield (), f"{op.operation_id} takes no request body (use where: query)"

    def summary(self) -> str:
        return f"{self.status} `invalid_request` unless the {self.where} has `{self.field}`"


DRIFT_KINDS = (RenameField, ChangeType, ChangeEnum, DateFormat, RequireField)
