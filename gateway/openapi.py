"""The gateway's own OpenAPI document, committed as ``contracts/openapi/gateway.yaml``.

``python -m gateway.openapi --write`` regenerates it; a test holds the file equal to the code.
The proxied provider routes are dynamic and documented in the app description instead.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from contracts.published import render as render_contract
from gateway.app import create_app
from gateway.docs import gateway_openapi
from ndxp_config.settings import Settings

OPENAPI_PATH = Path(__file__).resolve().parent.parent / "contracts" / "openapi" / "gateway.yaml"


def openapi_document() -> dict[str, Any]:
    """The gateway's OpenAPI 3.1 document (built with default settings, no I/O)."""
    # Built-in defaults, not the environment: the committed file must not depend on it.
    return gateway_openapi(create_app(Settings.model_construct()))


def render() -> str:
    """The document as committed, in the same YAML dialect as the databases' contracts."""
    return render_contract(openapi_document())


def main(argv: list[str]) -> int:
    if argv == ["--write"]:
        OPENAPI_PATH.write_text(render(), encoding="utf-8")
        print(f"wrote {OPENAPI_PATH}")
        return 0
    if argv:
        print("usage: python -m gateway.openapi [--write]", file=sys.stderr)
        return 2
    sys.stdout.write(render())
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
