"""The blocking façade runs the async client's calls, rules included."""

from __future__ import annotations

import httpx
import pytest

from connectors.errors import NotFound
from connectors.sync import SyncNdxpClient
from contracts.population import Citizen
from mock_services.population import citizen_record, sample_ids

PID = sample_ids(2024, "038", 1)[0]


def gateway(request: httpx.Request) -> httpx.Response:
    if request.url.path == "/oauth2/token":
        return httpx.Response(200, json={"access_token": "t", "expires_in": 300})
    if request.url.path.endswith(PID):
        body = citizen_record(2024, PID).model_dump(mode="json")
        return httpx.Response(200, json=body, headers={"X-NDXP-Exchange-Id": "ex-1"})
    return httpx.Response(404, json={"code": "not_found", "title": "Not found", "status": 404})


def test_sync_client_returns_models_and_raises_the_same_errors() -> None:
    with SyncNdxpClient("http://gw.test", "c", "s", transport=httpx.MockTransport(gateway)) as ndxp:
        citizen = ndxp.population.get_citizen(PID)
        exchange = ndxp.last_exchange
        with pytest.raises(NotFound):
            ndxp.population.get_citizen("038090999999")
        with pytest.raises(AttributeError):
            ndxp.population.no_such_operation  # noqa: B018 - the lookup is the test

    assert isinstance(citizen, Citizen)
    assert exchange is not None
    assert exchange.exchange_id == "ex-1"
