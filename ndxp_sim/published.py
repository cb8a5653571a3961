"""The published contracts, all in one place: the four databases' OpenAPI documents and the
gateway's own, generated from the code and committed under ``contracts/openapi/``."""

from __future__ import annotations

from pathlib import Path

from contracts.published import OPENAPI_DIR, render
from mock_services.openapi import published_documents


def all_documents() -> dict[str, str]:
    """File name → YAML text of every published contract, as the code generates it now."""
    from gateway import openapi_document

    return {**published_documents(), "gateway.yaml": render(openapi_document())}


def stale_documents(directory: Path = OPENAPI_DIR) -> list[str]:
    """Names of committed contract files that are missing or differ from the code."""
    stale = []
    for name, text in all_documents().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            stale.append(name)
    return stale


def write_published(directory: Path = OPENAPI_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in all_documents().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
