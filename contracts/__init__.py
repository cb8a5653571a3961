"""The wire format, once: pydantic models of the four national databases and of the gateway's
own API, and the catalogue of routable operations. The published OpenAPI 3.1 files in
``contracts/openapi/`` are generated from these models (``ndxp-sim openapi --write``)."""

from contracts.catalogue import OPERATIONS, PROVIDERS, Operation, operation, operations_of
from contracts.common import CONTRACT_VERSION, PersonalId, Problem, WireModel
from contracts.exchange import ExchangePage, ExchangeRecord

__all__ = [
    "CONTRACT_VERSION",
    "OPERATIONS",
    "PROVIDERS",
    "ExchangePage",
    "ExchangeRecord",
    "Operation",
    "PersonalId",
    "Problem",
    "WireModel",
    "operation",
    "operations_of",
]
