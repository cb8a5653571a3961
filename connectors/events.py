"""What a call did, told as it happens: :class:`ClientEvent` and the per-call :class:`Exchange`.

An :class:`~connectors.client.NdxpClient` reports every step of a call to its ``on_event``
callback — the token it fetched, each request it sent, each response, each retry and its delay,
each breaker transition, the reserve it kept and the moment it gave up. The trainer's demo
narrates from these events and provinces log them, so the kinds and fields are a stable
surface: fields are added, never renamed.

After each call, ``NdxpClient.last_exchange`` holds an :class:`Exchange`: the summary a
province keeps to quote to NDXP support (the gateway's exchange id above all).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

EventKind = Literal["token", "request", "response", "retry", "breaker", "give_up", "quota_reserve"]
BreakerState = Literal["closed", "open", "half_open"]

EVENT_KINDS: tuple[EventKind, ...] = (
    "token",
    "request",
    "response",
    "retry",
    "breaker",
    "give_up",
    "quota_reserve",
)


@dataclass(frozen=True, slots=True)
class ClientEvent:
    """One step of a call, for ``on_event``; fields that do not apply to a kind are None.

    - ``token``: a token was fetched (``detail`` says why: first call, refresh, or after a 401).
    - ``request``: attempt ``attempt`` is being sent to ``method path``.
    - ``response``: an answer came back: ``status``, ``code`` (None on success),
      ``latency_ms``, ``exchange_id``, ``quota_remaining``.
    - ``retry``: the failed attempt ``attempt`` will be retried after ``delay_s``.
    - ``breaker``: the provider's breaker moved to ``breaker_state`` (``detail``: from where).
    - ``give_up``: the call fails with ``code`` after ``attempt`` attempts (``detail``: why).
    - ``quota_reserve``: the call was not sent: ``quota_remaining`` is within the reserve.
    """

    kind: EventKind
    provider: str | None = None
    service: str | None = None
    method: str | None = None
    path: str | None = None
    status: int | None = None
    code: str | None = None
    latency_ms: float | None = None
    exchange_id: str | None = None
    attempt: int | None = None
    delay_s: float | None = None
    breaker_state: BreakerState | None = None
    quota_remaining: int | None = None
    detail: str | None = None


EventHook = Callable[[ClientEvent], None]


@dataclass(frozen=True, slots=True)
class Exchange:
    """The outcome of one SDK call, over all its attempts (``NdxpClient.last_exchange``).

    ``exchange_id`` is the gateway's ``X-NDXP-Exchange-Id`` of the last answer (None when the
    gateway was never reached); ``exchange_ids`` lists every attempt's id, oldest first.
    ``latency_ms`` is the whole call, retries and their waits included.
    """

    provider: str
    service: str
    method: str
    path: str
    status: int | None
    code: str | None
    exchange_id: str | None
    exchange_ids: tuple[str, ...]
    latency_ms: float
    attempts: int
    quota_remaining: int | None

    @property
    def ok(self) -> bool:
        """True if the call returned a result: a 2xx answer that met its contract."""
        return self.code is None and self.status is not None and 200 <= self.status < 300
