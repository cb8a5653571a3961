"""Which way a province's one-stop system reaches NDXP (FM-10): direct, via its LGSP, via VDXP.

The route is the province's deployment, not the gateway's business: it is configured in the
settings every process reads (``NDXP_ROUTES__DEFAULT``, ``NDXP_ROUTES__PROVINCES``) and
resolved here into the base URL and options an :class:`~connectors.client.NdxpClient` needs::

    route = route_of(settings, "038")
    async with NdxpClient(route.base_url, client_id, secret, **route.client_options()) as ndxp:
        ...

- ``direct`` — the 1:1 connection to the gateway the guidance prescribes (row 2, Long An);
- ``lgsp`` — through the provincial LGSP (``settings.lgsp``), the default, as most provinces
  run (rows 43, 44, 48, 49: "qua trục LGSP - NDXP");
- ``vdxp`` — through VDXP (``settings.vdxp``) speaking X-Road's PR-REST, the client
  identifying itself as ``VN/GOV/UBND-<province>/MCDT`` (row 87, Hà Giang).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from contracts.xroad import client_id
from ndxp_config.settings import RouteName, Settings


@dataclass(frozen=True, slots=True)
class Route:
    """A resolved route: where to send, and how to speak there."""

    name: RouteName
    base_url: str
    xroad_client: str | None = None  # vdxp: the caller's X-Road-Client
    xroad_instance: str = "VN"

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for :class:`~connectors.client.NdxpClient` on this route."""
        if self.xroad_client is None:
            return {}
        return {"xroad_client": self.xroad_client, "xroad_instance": self.xroad_instance}


def route_of(settings: Settings, province: str | None) -> Route:
    """The route of ``province``'s one-stop system under ``settings``."""
    name = settings.routes.of(province)
    if name == "lgsp":
        return Route(name, settings.lgsp.url)
    if name == "vdxp":
        instance = settings.vdxp.instance
        return Route(name, settings.vdxp.url, client_id(instance, province or "000"), instance)
    return Route(name, settings.gateway.url)


__all__ = ["Route", "route_of"]
