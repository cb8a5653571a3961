"""The NDXP gateway (*Nền tảng tích hợp, chia sẻ dữ liệu quốc gia*): ``create_app(settings)``.

Registry, identity, access rights, daily quotas, routing and timeouts, contract checks, the
exchange log, metrics and the admin API; see :mod:`gateway.app` for how they fit together.

Names are imported on first use (PEP 562), so that ``python -m gateway.openapi`` and
``python -m gateway.registry`` run their module once, not a second copy of it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from gateway.app import create_app
    from gateway.errors import GatewayError
    from gateway.openapi import openapi_document
    from gateway.registry import Registry, RegistryError, default_registry, load_registry
    from gateway.server import app_factory

_SOURCES = {
    "GatewayError": "gateway.errors",
    "Registry": "gateway.registry",
    "RegistryError": "gateway.registry",
    "app_factory": "gateway.server",
    "create_app": "gateway.app",
    "default_registry": "gateway.registry",
    "load_registry": "gateway.registry",
    "openapi_document": "gateway.openapi",
}
__all__ = [
    "GatewayError",
    "Registry",
    "RegistryError",
    "app_factory",
    "create_app",
    "default_registry",
    "load_registry",
    "openapi_document",
]


def __getattr__(name: str) -> Any:
    if name in _SOURCES:
        return getattr(import_module(_SOURCES[name]), name)
    raise AttributeError(f"module 'gateway' has no attribute {name!r}")
