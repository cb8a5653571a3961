"""Switch the failure scenario the flows run under — through the gateway, or mock by mock.

The gateway's admin API switches every mock at once (``PUT /admin/scenario {"name": ...}``,
all-or-nothing, and it starts a *run* that ``ndxp-sim report`` reads). A gateway that lacks
that endpoint (404/405) — or a setup with mocks only — is served mock by mock with each mock's
``PUT /_faults/scenario`` and the scenario file's content. Both take the gateway's admin token.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
import yaml

from mock_services.scenarios import SCENARIOS_DIR, find_scenario
from ndxp_config.settings import MOCK_NAMES, Settings

TIMEOUT_S = 10.0


class ScenarioSwitchError(RuntimeError):
    """A scenario could not be switched on (unknown name, refused, a mock unreachable)."""


async def switch_scenario(
    name: str,
    *,
    admin_token: str,
    gateway_url: str | None = None,
    mock_urls: Mapping[str, str] | None = None,
    scenarios_dir: Any = None,
    transport: httpx.AsyncBaseTransport | None = None,
) -> str:
    """Make every mock run scenario ``name``; returns how it was done ("gateway" / "mocks").

    Tries the gateway first when ``gateway_url`` is given; falls back on ``mock_urls``.
    """
    directory = scenarios_dir or SCENARIOS_DIR
    try:
        scenario = find_scenario(name, directory)
    except ValueError as exc:  # ScenarioError
        raise ScenarioSwitchError(str(exc)) from None
    headers = {"Authorization": f"Bearer {admin_token}"}
    async with httpx.AsyncClient(timeout=TIMEOUT_S, transport=transport) as http:
        if gateway_url is not None:
            response = await http.put(
                f"{gateway_url.rstrip('/')}/admin/scenario", json={"name": name}, headers=headers
            )
            if response.is_success:
                return "gateway"
            if response.status_code not in (404, 405) or not mock_urls:
                raise ScenarioSwitchError(
                    f"the gateway refused scenario {name}: {response.status_code} {response.text}"
                )
        if not mock_urls:
            raise ScenarioSwitchError("no gateway endpoint and no mock URL to switch scenarios")
        path = directory / f"{scenario.id}.yaml"
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        for mock, url in mock_urls.items():
            try:
                response = await http.put(
                    f"{url.rstrip('/')}/_faults/scenario", json=document, headers=headers
                )
            except httpx.HTTPError as exc:
                raise ScenarioSwitchError(f"{mock} at {url} unreachable: {exc}") from exc
            if not response.is_success:
                raise ScenarioSwitchError(
                    f"{mock} refused scenario {name}: {response.status_code} {response.text}"
                )
    return "mocks"


async def switch_scenario_for(settings: Settings, name: str) -> str:
    """:func:`switch_scenario` for the stack these settings describe (gateway, then mocks)."""
    return await switch_scenario(
        name,
        admin_token=settings.gateway.admin_token.get_secret_value(),
        gateway_url=settings.gateway.url,
        mock_urls={mock: settings.mocks.url(mock) for mock in MOCK_NAMES},
        scenarios_dir=getattr(settings, "scenarios_dir", None),
    )


__all__ = ["ScenarioSwitchError", "switch_scenario", "switch_scenario_for"]
