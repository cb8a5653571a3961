"""The ``ndxp-sim`` command line, process supervision and the one typed ``Settings``."""

from ndxp_sim.settings import GatewaySettings, MockSettings, Settings, get_settings

__all__ = ["GatewaySettings", "MockSettings", "Settings", "get_settings"]
