"""Where the published OpenAPI contracts live (``contracts/openapi/``) and how a document is
rendered for committing: one YAML form for the mocks' documents and the gateway's alike."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

OPENAPI_DIR = Path(__file__).resolve().parent / "openapi"


class _ContractDumper(yaml.SafeDumper):
    """Quotes digit strings (ids like ``038057004904``) so no YAML reader takes them for numbers."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "'" if value.isdigit() else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_ContractDumper.add_representer(str, _represent_str)


def render(doc: dict[str, Any]) -> str:
    """YAML text of an OpenAPI document, stable for committing."""
    return yaml.dump(doc, Dumper=_ContractDumper, sort_keys=False, allow_unicode=True, width=100)


__all__ = ["OPENAPI_DIR", "render"]
