"""Each province on its route (connectors/routes.py), and the SDK speaking PR-REST on VDXP's."""

from __future__ import annotations

import httpx
import pytest

from connectors.client import NdxpClient
from connectors.errors import NdxpError
from connectors.provinces import one_stop_systems
from connectors.routes import route_of
from ndxp_config.settings import RouteSettings, Settings


def test_the_default_routes_are_the_lgsp_long_an_direct_and_ha_giang_via_vdxp(
    settings: Settings,
) -> None:
    assert route_of(settings, "038").name == "lgsp"
    assert route_of(settings, "038").base_url == settings.lgsp.url
    assert route_of(settings, "080").base_url == settings.gateway.url
    vdxp = route_of(settings, "002")
    assert (vdxp.name, vdxp.base_url) == ("vdxp", settings.vdxp.url)
    assert vdxp.client_options() == {"xroad_client": "VN/GOV/UBND-002/MCDT", "xroad_instance": "VN"}
    assert route_of(settings, "038").client_options() == {}


def test_a_setting_moves_every_province_or_one(settings: Settings) -> None:
    routes = RouteSettings(default="direct", provinces={"066": "lgsp"})
    moved = settings.model_copy(update={"routes": routes})
    assert route_of(moved, "038").name == "direct"
    assert route_of(moved, "066").name == "lgsp"


def test_every_one_stop_system_knows_its_route(settings: Settings) -> None:
    systems = one_stop_systems(settings)
    assert systems["002"].route is not None
    assert systems["002"].route.name == "vdxp"
    assert {s.route.name for s in systems.values() if s.route} == {"direct", "lgsp", "vdxp"}


@pytest.mark.parametrize(
    ("xroad_client", "path"),
    [
        (None, "/population/v1/citizens/038090001234"),
        (
            "VN/GOV/UBND-002/MCDT",
            "/r1/VN/GOV/BCA/CSDLQGDC/population/v1/citizens/038090001234",
        ),
    ],
    ids=["ndxp", "pr-rest"],
)
async def test_the_sdk_sends_its_call_in_the_routes_shape(
    xroad_client: str | None, path: str
) -> None:
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path == "/oauth2/token":
            return httpx.Response(200, json={"access_token": "t", "token_type": "Bearer",
                                             "expires_in": 300})  # fmt: skip
        return httpx.Response(404, json={"code": "not_found", "title": "Not found", "status": 404})

    transport = httpx.MockTransport(answer)
    async with NdxpClient(
        "http://hop", "c", "s", transport=transport, xroad_client=xroad_client
    ) as ndxp:
        with pytest.raises(NdxpError):  # a 404: what is tested is what was sent
            await ndxp.population.get_citizen("038090001234")
    call = seen[-1]
    assert call.url.path == path
    assert call.headers.get("X-Road-Client") == xroad_client
