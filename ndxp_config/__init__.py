"""The bottom layer: the one typed ``Settings`` every package and process reads.

Every other package (``contracts`` aside) imports its settings from here, never from the
command-line package ``ndxp_sim``, so the gateway, the mocks and the connectors do not depend
on the CLI.
"""

from ndxp_config.settings import (
    MOCK_NAMES,
    GatewaySettings,
    MockName,
    MockSettings,
    Settings,
    get_settings,
)

__all__ = ["MOCK_NAMES", "GatewaySettings", "MockName", "MockSettings", "Settings", "get_settings"]
