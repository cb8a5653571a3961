"""Sample calls (*dữ liệu mẫu*): for one province, one working call of every operation.

A national database's sandbox publishes, per province, ids that exist in it — a citizen of that
province, a day with dossiers there, a licence renewed there — so that a new connector makes
its first calls without guessing. The mocks serve them at ``GET /samples/operations?province=``
(outside their contracts); the gateway's connection kit (:mod:`gateway.kit`) reads them.
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from contracts.common import WireModel


class SampleCall(WireModel):
    """One call of one operation that works against the sandbox as it is."""

    summary: str = Field(examples=["a citizen of Thanh Hóa"])
    path_params: dict[str, str] = Field(default_factory=dict)
    query: dict[str, str | int] = Field(
        default_factory=dict, description="Query parameters to send."
    )
    optional_query: dict[str, str | int] = Field(
        default_factory=dict,
        description="Documented examples of optional query parameters, not sent by default.",
    )
    body: dict[str, Any] | None = Field(default=None, description="The JSON request body.")


class ProviderSamples(WireModel):
    """Every operation of one national database, for one province."""

    provider: str = Field(examples=["population"])
    province: str = Field(pattern=r"^\d{3}$", examples=["038"])
    operations: dict[str, SampleCall] = Field(description="By operation id.")
