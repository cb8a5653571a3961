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
"""

from __future__ import annotations

from importlib import import_module

import structlog
from pydantic import BaseModel, ValidationError

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
