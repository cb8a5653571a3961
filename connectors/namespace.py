"""What :mod:`connectors.operations`' typed methods share: the :class:`Caller` they send through,
one way to turn a method's arguments into a call (:func:`request_arguments`), and :func:`twin`,
which makes a method again for another contract version or another entity kind with the same
request (``get_citizen_v2`` from ``get_citizen``), so each request shape is written once.
"""

# ruff: noqa: ASYNC109 -- ``timeout=`` is httpx's per-phase Timeout (connect, read, write,
# pool) passed through to the request, as httpx's own API does; asyncio.timeout cannot say that.

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Coroutine, Mapping
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeVar, cast

import httpx
from pydantic import BaseModel

from contracts.catalogue import Operation, Provider, operation

TimeoutTypes = float | httpx.Timeout
M = TypeVar("M", bound=BaseModel)
R = TypeVar("R")
N = TypeVar("N", bound="Namespace")
P = ParamSpec("P")


class Caller(Protocol):
    """What a namespace needs of the client: send one operation, get the parsed answer."""

    async def call(
        self,
        op: Operation,
        model: type[M],
        path_params: Mapping[str, str] | None = None,
        *,
        query: Mapping[str, Any] | None = None,
        body: BaseModel | None = None,
        idempotency_key: str | None = None,
        timeout: TimeoutTypes | None = None,
    ) -> M: ...

    async def call_bytes(
        self,
        op: Operation,
        path_params: Mapping[str, str] | None = None,
        *,
        timeout: TimeoutTypes | None = None,
    ) -> bytes: ...


def request_arguments(op: Operation, args: Mapping[str, Any]) -> dict[str, Any]:
    """A typed method's arguments as :meth:`Caller.call`'s: path parameters by the catalogue's
    path, ``body``, ``idempotency_key``, ``timeout``, and the rest as the query (``from_`` as the
    wire's ``from``, datetimes in RFC 3339, ``None`` left out)."""
    names = [part.split("}")[0] for part in op.path.split("{")[1:]]
    request: dict[str, Any] = {"path_params": {name: args[name] for name in names} or None}
    query: dict[str, Any] = {}
    for name, value in args.items():
        if name in ("body", "idempotency_key", "timeout"):
            request[name] = value
        elif name not in names and value is not None:
            query[name.rstrip("_")] = value.isoformat() if isinstance(value, datetime) else value
    return request | ({"query": query} if query else {})


class Namespace:
    """One national database's typed methods, sending through a :class:`Caller`."""

    provider: Provider

    def __init__(self, caller: Caller) -> None:
        self._caller = caller

    def _op(self, operation_id: str) -> Operation:
        return operation(self.provider, operation_id)

    async def _send(self, operation_id: str, model: type[R], **args: Any) -> R:
        """Call ``operation_id`` with a typed method's arguments; ``model`` parses the answer."""
        op = self._op(operation_id)
        request = request_arguments(op, args)
        if model is bytes:
            return cast(R, await self._caller.call_bytes(op, **request))
        return cast(R, await self._caller.call(op, cast(type[BaseModel], model), **request))


def twin(
    method: Callable[Concatenate[N, P], Coroutine[Any, Any, Any]],
    operation_id: str,
    returns: type[R],
    doc: str,
) -> Callable[Concatenate[N, P], Coroutine[Any, Any, R]]:
    """``method`` again for another contract version: same parameters, ``operation_id`` sent,
    ``returns`` parsed. The catalogue's v2 operations that keep v1's request are made so."""
    signature = inspect.signature(method)

    async def twin(self: N, /, *args: P.args, **kwargs: P.kwargs) -> R:
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        arguments = {name: value for name, value in bound.arguments.items() if name != "self"}
        return await self._send(operation_id, returns, **arguments)

    twin.__name__ = operation_id
    twin.__qualname__ = f"{method.__qualname__.rpartition('.')[0]}.{operation_id}"
    twin.__doc__ = doc
    twin.__annotations__ = typing.get_type_hints(method) | {"return": returns}
    twin.__signature__ = signature.replace(return_annotation=returns)  # type: ignore[attr-defined]
    return twin
