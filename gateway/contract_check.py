"""Contract check (*kiểm tra hợp đồng dữ liệu*): does a provider's 2xx body keep its contract?

The reports' commonest data complaint is fields that are missing (FM-04) or changed without
notice (FM-08). The gateway validates every 2xx JSON body against the operation's response
model from :mod:`contracts` and *passes the response on regardless*, flagging what broke:
field paths go into the exchange record, a metric and the ``X-NDXP-Contract-Violations``
header. Validation is strict (a number sent as a string breaks an integer field), so a type
changed without notice (FM-08) is caught; JSON's ISO dates still read as dates. Paths are
normalised for low cardinality: list indices become ``[]``
(``items[].procedure_code``), a body that is not the expected JSON at all is ``$``.
Models are imported lazily; one that cannot be imported (not written yet) means "no check".

A provider can also drift on the request side: start demanding a field its contract does not
have (FM-08, ``require_field``). Only when a provider answers 400/422 does the gateway look at
the request: if the body keeps the operation's published request model and the problem names
body fields the model lacks, the refusal is flagged as
``request: refused a contract-valid request (missing: declarant)``. A refusal that names the
contract's own fields (a date out of range, a citizen mismatch) is the contract at work, not
flagged; nothing of this runs on a 2xx.
"""

from __future__ import annotations

import json
from importlib import import_module
from typing import Any, get_args

import structlog
from pydantic import BaseModel, ValidationError

from contracts.headers import REFUSED_VALID_REQUEST

MAX_REPORTED = 20  # keeps the header and the metric's label set bounded

_log = structlog.get_logger("ndxp.gateway.contract_check")


class ContractChecker:
    """Validates response bodies; caches each model (or its absence) on first use."""

    def __init__(self) -> None:
        self._models: dict[str, type[BaseModel] | None] = {}

    def model(self, name: str) -> type[BaseModel] | None:
        """The model ``"module:Class"`` in ``contracts``, or None if it cannot be loaded."""
        if name in self._models:
            return self._models[name]
        module, _, cls_name = name.partition(":")
        found: type[BaseModel] | None = None
        try:
            candidate = getattr(import_module(f"contracts.{module}"), cls_name)
        except (ImportError, AttributeError) as exc:
            _log.warning("contract_model_missing", model=name, error=str(exc))
        else:
            if isinstance(candidate, type) and issubclass(candidate, BaseModel):
                found = candidate
        self._models[name] = found
        return found

    def check(self, model_name: str | None, body: bytes) -> list[str]:
        """The violated field paths of ``body``; ``[]`` if it keeps the contract (or no check)."""
        if model_name is None:
            return []
        model = self.model(model_name)
        if model is None:
            return []
        try:
            # Strict: "135000" is not the integer the contract says, even if it could become one.
            model.model_validate_json(body, strict=True)
        except ValidationError as exc:
            return violation_paths(exc)
        return []

    def check_refusal(self, model_name: str | None, request: bytes, problem: bytes) -> list[str]:
        """A provider's 400/422 to ``request``: one violation if the request keeps the published
        request model and ``problem`` names body fields the model lacks, else ``[]``."""
        model = None if model_name is None else self.model(model_name)
        if model is None:
            return []
        try:
            model.model_validate_json(request or b"null")  # lax, as the provider's parser is
        except ValidationError:
            return []  # the province's own mistake: the refusal is right
        outside = _named_outside(model, problem)
        if not outside:
            return []
        named = "; ".join(f"{label}: {' '.join(fields)}" for label, fields in outside.items())
        return [f"{REFUSED_VALID_REQUEST} ({named})"]


def _named_outside(model: type[BaseModel], problem: bytes) -> dict[str, list[str]]:
    """Body fields a problem's ``errors`` name that ``model`` does not have, by error kind
    (``missing`` or ``invalid``)."""
    try:
        errors = json.loads(problem).get("errors")
    except (ValueError, AttributeError):
        return {}
    outside: dict[str, list[str]] = {}
    for error in errors if isinstance(errors, list) else []:
        loc = error.get("loc") if isinstance(error, dict) else None
        if not isinstance(loc, list) or loc[:1] != ["body"] or len(loc) < 2:
            continue
        if _has_field(model, loc[1:]):
            continue
        label = "missing" if error.get("type") == "missing" else "invalid"
        fields = outside.setdefault(label, [])
        path = _path(tuple(part for part in loc[1:] if isinstance(part, int | str)))
        if path not in fields and len(fields) < MAX_REPORTED:
            fields.append(path)
    return outside


def _has_field(model: type[BaseModel], loc: list[Any]) -> bool:
    """Whether ``loc`` is a field of ``model`` (past what cannot be followed, assumed so)."""
    current: type[BaseModel] | None = model
    for part in loc:
        if isinstance(part, int):
            continue
        if current is None:
            return True
        info = current.model_fields.get(str(part))
        if info is None:
            return False
        current = _model_in(info.annotation)
    return True


def _model_in(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds, through ``X | None`` and ``list[X]``; None if not one model."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    models = {m for arg in get_args(annotation) if (m := _model_in(arg)) is not None}
    return models.pop() if len(models) == 1 else None


def violation_paths(exc: ValidationError) -> list[str]:
    """Distinct normalised field paths of a validation error, in the order found."""
    paths: dict[str, None] = {}
    for error in exc.errors(include_url=False, include_input=False):
        paths[_path(error["loc"])] = None
        if len(paths) >= MAX_REPORTED:
            break
    return list(paths)


def _path(loc: tuple[int | str, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += "[]"
        else:
            out += f".{part}" if out else str(part)
    return out or "$"
