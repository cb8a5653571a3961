"""The provincial side (*phía địa phương*): the ``NdxpClient`` SDK for the NDXP gateway.

::

    from connectors import NdxpClient

    async with NdxpClient("http://127.0.0.1:8000", "onestop-thanh-hoa",
                          "dev-secret-thanh-hoa") as ndxp:
        citizen = await ndxp.population.get_citizen("038090001234")

The mock one-stop systems and their flows (``connectors.flows``, ``connectors.provinces``)
are built on this surface.
"""

from connectors.breaker import TRANSITIONS, BreakerPolicy, CircuitBreaker
from connectors.client import NdxpClient
from connectors.errors import (
    CircuitOpen,
    ClientError,
    Conflict,
    ContractViolation,
    Forbidden,
    GatewayFailure,
    GatewayUnreachable,
    InvalidRequest,
    NdxpError,
    NotFound,
    PayloadTooLarge,
    ProviderMaintenance,
    ProviderRejected,
    QuotaExceeded,
    TransportError,
    Unauthenticated,
    UnknownService,
    UpstreamError,
    UpstreamFailure,
    UpstreamOverloaded,
    UpstreamReset,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from connectors.events import EVENT_KINDS, BreakerState, ClientEvent, EventKind, Exchange
from connectors.ratelimit import RateLimit, RateLimitPolicy, parse_ratelimit, parse_ratelimit_policy
from connectors.retry import RetryPolicy
from connectors.sync import SyncNdxpClient

__all__ = [
    "EVENT_KINDS",
    "TRANSITIONS",
    "BreakerPolicy",
    "BreakerState",
    "CircuitBreaker",
    "CircuitOpen",
    "ClientError",
    "ClientEvent",
    "Conflict",
    "ContractViolation",
    "EventKind",
    "Exchange",
    "Forbidden",
    "GatewayFailure",
    "GatewayUnreachable",
    "InvalidRequest",
    "NdxpClient",
    "NdxpError",
    "NotFound",
    "PayloadTooLarge",
    "ProviderMaintenance",
    "ProviderRejected",
    "QuotaExceeded",
    "RateLimit",
    "RateLimitPolicy",
    "RetryPolicy",
    "SyncNdxpClient",
    "TransportError",
    "Unauthenticated",
    "UnknownService",
    "UpstreamError",
    "UpstreamFailure",
    "UpstreamOverloaded",
    "UpstreamReset",
    "UpstreamTimeout",
    "UpstreamUnreachable",
    "parse_ratelimit",
    "parse_ratelimit_policy",
]
