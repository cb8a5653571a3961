"""Faults that belong to the network: waiting while the caller may hang up, and dropping the TCP
connection under a real server (*mất kết nối*).

ASGI has no message for "reset the connection", so :class:`ResetResponse` reaches the server's
transport. Uvicorn (both its httptools and h11 protocols) hands the app its
``RequestResponseCycle.receive`` bound method, whose cycle holds the transport (asyncio's or
uvloop's); :func:`server_transport` finds it there and checks what it can do. With it:

- ``before_response``: ``SO_LINGER`` 0 then ``abort()``: the kernel sends RST, and the caller
  sees a reset (``httpx.ReadError`` / ``RemoteProtocolError``) without a single response byte;
- ``during_body``: the status line, the headers (with the full ``Content-Length``) and half of
  the body are written, then the connection is reset the same way once those bytes have left:
  the caller reads a 200 and then fails while reading the body.

Under a server that does not expose its transport (httpx's ``ASGITransport`` in unit tests),
the response raises :class:`InjectedConnectionReset` instead, which such transports pass on
to the client. Either way the app then waits for the server's ``http.disconnect`` so that the
server neither logs an unfinished response nor answers 500.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any, Literal, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

Sleep = Callable[[float], Awaitable[None]]
ResetPhase = Literal["before_response", "during_body"]
# Enough receive() calls to pass the request body (if unread) and reach the disconnect.
_MAX_RECEIVES = 64


class InjectedConnectionReset(ConnectionResetError):
    """The fault engine dropped the connection (raised where no transport can be reached)."""


class Transport(Protocol):
    """What is used of the server's transport: asyncio's, or uvloop's (not a subclass)."""

    def abort(self) -> None: ...
    def close(self) -> None: ...
    def get_extra_info(self, name: str, default: Any = None) -> Any: ...
    def get_write_buffer_size(self) -> int: ...


def server_transport(request: Request) -> Transport | None:
    """The TCP transport of the server running this request, if the server exposes it."""
    cycle = getattr(request.receive, "__self__", None)
    transport = getattr(cycle, "transport", None)
    needed = ("abort", "close", "get_extra_info", "get_write_buffer_size")
    if transport is None or not all(callable(getattr(transport, n, None)) for n in needed):
        return None
    found: Transport = transport
    return found


def abort_with_reset(transport: Transport) -> None:
    """Close at once with RST (SO_LINGER on, timeout 0), discarding whatever is unsent."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _until_disconnected(receive: Receive) -> bool:
    for _ in range(_MAX_RECEIVES):
        if (await receive())["type"] == "http.disconnect":
            return True
    return False


class ResetResponse(Response):
    """A response that drops the connection instead of completing (see the module docstring)."""

    def __init__(
        self,
        phase: ResetPhase,
        transport: Transport | None,
        *,
        content: bytes = b"",
        status_code: int = 200,
        headers: dict[str, str] | None = None,
        media_type: str | None = None,
    ) -> None:
        super().__init__(content, status_code, headers, media_type)
        self.phase = phase
        self.transport = transport

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.phase == "during_body":
            await send(
                {
                    "type": "http.response.start",
                    "status": self.status_code,
                    "headers": self.raw_headers,
                }
            )
            # Never the whole body: at least one byte short of the announced Content-Length.
            await send(
                {
                    "type": "http.response.body",
                    "body": self.body[: len(self.body) // 2],
                    "more_body": True,
                }
            )
        if self.transport is None:
            raise InjectedConnectionReset(f"connection reset by the fault engine ({self.phase})")
        if self.transport.get_write_buffer_size():
            # The partial body has not left yet; a reset would discard it. Close once flushed:
            # the caller still reads a body shorter than its Content-Length.
            self.transport.close()
        else:
            abort_with_reset(self.transport)
        await _until_disconnected(receive)


async def wait_for_disconnect(request: Request) -> None:
    """Return when the caller hangs up (never, under an in-process transport that cannot)."""
    await request.body()  # cached on the request: the handler still reads the body afterwards
    if not await _until_disconnected(request.receive):
        await asyncio.Event().wait()  # no disconnect came: never claim one


async def pause(seconds: float, request: Request, sleep: Sleep) -> bool:
    """Wait ``seconds`` with ``sleep``, unless the caller hangs up first; True if it did.

    A gateway that timed out has gone: stopping then keeps hung handlers from piling up and
    lets the server shut down without waiting for them.
    """
    if seconds <= 0:
        return False
    sleeper = asyncio.ensure_future(sleep(seconds))
    watcher = asyncio.ensure_future(wait_for_disconnect(request))
    try:
        done, _ = await asyncio.wait({sleeper, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sleeper, watcher):
            task.cancel()
    return watcher in done
