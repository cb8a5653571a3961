"""The ``X-NDXP-*`` header names on the wire, shared by the gateway, the mocks and the connectors.

Spelled as the published contracts document them; HTTP header names are case-insensitive
(RFC 9110 §5.1), so code that compares raw ASGI header bytes lowercases them first.
"""

from __future__ import annotations

EXCHANGE_ID_HEADER = "X-NDXP-Exchange-Id"
"""Gateway → province and → provider: the exchange's id, as the exchange log keys it."""

ERROR_HEADER = "X-NDXP-Error"
"""Gateway → province: the stable ``code`` of a refusal or fault the gateway reports."""

VIOLATIONS_HEADER = "X-NDXP-Contract-Violations"
"""Gateway → province: the fields of a provider's answer that break its published contract."""

REFUSED_VALID_REQUEST = "request: refused a contract-valid request"
"""A violation the gateway flags when a provider answers 400/422 to a request its published
contract allows, naming fields the contract lacks: ``<this> (missing: declarant)``."""

CONSUMER_HEADER = "X-NDXP-Consumer"
"""Gateway → provider: which consumer (one-stop system) calls."""

PROVINCE_HEADER = "X-NDXP-Province"
"""Gateway → provider: the calling consumer's province code."""

INJECTED_FAULT_HEADER = "X-NDXP-Injected-Fault"
"""Mock provider → gateway: ``kind:rule-id`` of the fault a scenario injected into this answer."""

__all__ = [
    "CONSUMER_HEADER",
    "ERROR_HEADER",
    "EXCHANGE_ID_HEADER",
    "INJECTED_FAULT_HEADER",
    "PROVINCE_HEADER",
    "REFUSED_VALID_REQUEST",
    "VIOLATIONS_HEADER",
]
