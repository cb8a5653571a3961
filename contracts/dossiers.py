"""Fields shared by the contracts of dossiers a province submits (civil registry, judicial
records): the dossier code that makes a submission idempotent, the receiving province, and
the refusal of a JSON null for a field the schema says to omit."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pydantic import Field, JsonValue

from contracts.provinces import PROVINCE_CODES

DOSSIER_CODE_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9.\-]{3,49}$"


def dossier_code_field(of: str, example: str) -> Any:
    """A province's dossier code (mã hồ sơ) as the idempotency key ``of`` a submission."""
    return Field(
        pattern=DOSSIER_CODE_PATTERN,
        description="The province's dossier code (mã hồ sơ), unique per province: the "
        f"idempotency key of {of}.",
        examples=[example],
    )


def province_code_field(description: str) -> Any:
    """A province code listing the 63 codes as an enum, so the contract names every valid
    value (another is a 422)."""
    codes: list[JsonValue] = [*sorted(PROVINCE_CODES)]
    return Field(pattern=r"^\d{3}$", description=description, json_schema_extra={"enum": codes})


def refuse_null(what: str) -> Callable[[Any], Any]:
    """A before-validator for optional fields the schema says to omit: a JSON null is refused
    ("omit ``what`` rather than send null"), not read as omitted."""

    def check(value: Any) -> Any:
        if value is None:
            raise ValueError(f"omit {what} rather than send null")
        return value

    return check
