"""A blocking façade over :class:`~connectors.client.NdxpClient`, for scripts and old code.

``SyncNdxpClient`` takes the same arguments and has the same namespaces and methods; each call
runs the async one to completion on a private event loop (:class:`asyncio.Runner`), so every
retry, breaker and quota rule is the async client's own. It must not be used from inside a
running event loop (use ``NdxpClient`` there). The methods are reached generically, so they
are typed loosely; the async client is the typed surface.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from typing import Any

from connectors.client import NdxpClient
from connectors.events import Exchange


class _SyncNamespace:
    """One provider's methods, each run to completion on the owner's loop."""

    def __init__(self, namespace: object, runner: asyncio.Runner) -> None:
        self._namespace = namespace
        self._runner = runner

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._namespace, name)
        if name.startswith("_") or not inspect.iscoroutinefunction(method):
            raise AttributeError(name)

        def run(*args: Any, **kwargs: Any) -> Any:
            return self._runner.run(method(*args, **kwargs))

        run.__name__ = name
        run.__doc__ = method.__doc__
        return run


class SyncNdxpClient:
    """``NdxpClient``, blocking: ``with SyncNdxpClient(...) as ndxp: ndxp.population...``."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._runner = asyncio.Runner()
        self.client = NdxpClient(*args, **kwargs)
        self.population = _SyncNamespace(self.client.population, self._runner)
        self.business_registry = _SyncNamespace(self.client.business_registry, self._runner)
        self.driver_licence = _SyncNamespace(self.client.driver_licence, self._runner)
        self.civil_registry = _SyncNamespace(self.client.civil_registry, self._runner)

    @property
    def last_exchange(self) -> Exchange | None:
        """See :attr:`NdxpClient.last_exchange`."""
        return self.client.last_exchange

    def close(self) -> None:
        """Close the connection pool and the private event loop."""
        try:
            self._runner.run(self.client.aclose())
        finally:
            self._runner.close()

    def __enter__(self) -> SyncNdxpClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
