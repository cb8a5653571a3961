"""The request's edges, before any route: refusals the server found, and the body's bounds.

An ASGI middleware in front of every route — the proxy, ``/oauth2/token`` and ``/admin/*``
alike, so no body is read unbounded before authentication:

- a request the server already refused (:data:`gateway.protocol.EDGE_ERROR` in its scope: a
  head too large, too slow or malformed) is answered at once;
- a declared ``Content-Length`` over ``max_bytes`` is 413 ``payload_too_large`` before a
  byte of the body is read (RFC 9110 §8.6, §15.5.14);
- while the body is read: more than ``max_bytes`` is 413; a body the server cut (its
  deadline, 408 ``request_timeout``, RFC 9110 §15.5.9; broken chunked framing, 400,
  RFC 9112 §7.1) raises that error; a client gone mid-body raises ``client_disconnected``
  (recorded as 499, never sent) instead of the framework's generic disconnect.

Errors raised while reading the body are put in the scope under ``EDGE_ERROR`` too, so that
whichever handler answers them (the proxy, or the problem handlers of the gateway's own
endpoints, even when a framework wrapped them) records the exchange.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gateway.errors import ClientDisconnected, GatewayError, InvalidRequest, PayloadTooLarge
from gateway.protocol import EDGE_ERROR

Refuse = Callable[[Scope, GatewayError], Response]
"""Answers a refused request and records it as an exchange."""


class EdgeMiddleware:
    """Refuses what the server marked, and bounds every request body to ``max_bytes``."""

    def __init__(self, app: ASGIApp, *, max_bytes: int, refuse: Refuse) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.refuse = refuse

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        error = edge_refusal(scope, self.max_bytes)
        if error is not None:
            await self.refuse(scope, error)(scope, receive, send)
            return
        await self.app(scope, self._bounded(scope, receive), send)

    def _bounded(self, scope: Scope, receive: Receive) -> Receive:
        limit = self.max_bytes
        received = 0
        ended = False

        async def bounded_receive() -> Message:
            nonlocal received, ended
            message = await receive()
            if ended:
                return message  # a disconnect after the body is the response's business
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _too_large(scope, limit)
                if not message.get("more_body", False):
                    ended = True
                    _raise_cut(scope)
            elif message["type"] == "http.disconnect":
                ended = True
                raise _disconnected(scope)
            return message

        return bounded_receive


def edge_refusal(scope: Scope, max_bytes: int) -> GatewayError | None:
    """The refusal due before any route: the server's mark, or a declared body too large."""
    error: GatewayError | None = scope.get(EDGE_ERROR)
    if error is not None:
        return error
    for key, value in scope["headers"]:
        if key == b"content-length":
            refusal = length_refusal(value, max_bytes)
            if refusal is not None:
                return refusal
    return None


def length_refusal(content_length: bytes, max_bytes: int) -> GatewayError | None:
    """The refusal of a declared ``Content-Length``: not a number, or over ``max_bytes``."""
    if not content_length.isdigit():
        return InvalidRequest("Content-Length is not a number")
    if int(content_length) > max_bytes:
        return PayloadTooLarge(f"the body exceeds {max_bytes} bytes")
    return None


async def read_body(scope: Scope, receive: Receive, max_bytes: int) -> bytes:
    """The whole request body, bounded as :class:`EdgeMiddleware` bounds it (the plain-ASGI
    exchange path reads it without the middleware).

    Raises:
        PayloadTooLarge: more than ``max_bytes`` arrived.
        ClientDisconnected: the client left before the end of the body.
        GatewayError: the server cut the body (its deadline, broken chunked framing).
    """
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.request":
            chunk: bytes = message.get("body", b"")
            received += len(chunk)
            if received > max_bytes:
                raise _too_large(scope, max_bytes)
            if chunk:
                chunks.append(chunk)
            if not message.get("more_body", False):
                _raise_cut(scope)
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)
        elif message["type"] == "http.disconnect":
            raise _disconnected(scope)


def _too_large(scope: Scope, limit: int) -> GatewayError:
    return _marked(scope, PayloadTooLarge(f"the body exceeds {limit} bytes"))


def _disconnected(scope: Scope) -> GatewayError:
    return _marked(scope, ClientDisconnected("the client left before sending the whole request"))


def _raise_cut(scope: Scope) -> None:
    cut: GatewayError | None = scope.get(EDGE_ERROR)
    if cut is not None:  # the server ended the body early (gateway.protocol)
        raise cut


def _marked(scope: Scope, error: GatewayError) -> GatewayError:
    scope[EDGE_ERROR] = error
    return error
