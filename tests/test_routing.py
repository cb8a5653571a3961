"""Routing: only registered operations match, on the raw path, segment by segment."""

from __future__ import annotations

import pytest

from gateway.errors import MethodNotAllowed, UnknownService
from gateway.registry import OperationSpec, ProviderSpec, Registry
from gateway.routing import Router
from gateway.testing import small_registry
from ndxp_config.settings import Settings


@pytest.fixture
def router() -> Router:
    return Router(small_registry(base_url="http://db.test"), Settings())


@pytest.mark.parametrize(
    ("method", "path", "service", "upstream"),
    [
        ("GET", "/population/v1/citizens/038090001234", "population.get_citizen",
         "/v1/citizens/038090001234"),
        ("POST", "/population/v1/citizens/verify", "population.verify_citizen",
         "/v1/citizens/verify"),
        ("GET", "/population/v1/citizens/a%20b", "population.get_citizen", "/v1/citizens/a%20b"),
        ("GET", "/civil-registry/v1/registrations/R-1", "civil-registry.get_registration",
         "/v1/registrations/R-1"),
    ],
)  # fmt: skip
def test_registered_operation_matches_and_keeps_the_raw_path(
    router: Router, method: str, path: str, service: str, upstream: str
) -> None:
    match = router.match(method, path)
    assert match.route.service == service
    assert match.upstream_path == upstream
    assert match.route.base_url == "http://db.test"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        pytest.param("GET", "/population/v1/citizens", id="too-short"),
        pytest.param("GET", "/population/v1/citizens/1/extra", id="too-long"),
        pytest.param("GET", "/population/v1/Citizens/1", id="case-differs"),
        pytest.param("GET", "/population/v1/citizen%73/1", id="encoded-literal"),
        pytest.param("GET", "/population/v1/citizens/..", id="dot-dot"),
        pytest.param("GET", "/population/v1/citizens/.", id="dot"),
        pytest.param("GET", "/population/v1/citizens/%2e%2E", id="encoded-dot-dot"),
        pytest.param("GET", "/population/v1/citizens/a%2fb", id="encoded-slash"),
        pytest.param("GET", "/population/v1/citizens/a%5Cb", id="encoded-backslash"),
        pytest.param("GET", "/population/v1/citizens/a%00", id="encoded-nul"),
        pytest.param("GET", "/population/v1/citizens/%zz", id="bad-escape"),
        pytest.param("GET", "/population/v1/citizens/%ff", id="not-utf8"),
        pytest.param("GET", "/population//v1/citizens/1", id="empty-segment"),
        pytest.param("GET", "/population/v1/citizens/1/", id="trailing-slash"),
        pytest.param("GET", "/population", id="provider-only"),
        pytest.param("GET", "population/v1/citizens/1", id="relative"),
        pytest.param("GET", "/unknown/v1/citizens/1", id="unknown-provider"),
        pytest.param("GET", "/population/v1/citizens/a b", id="raw-space"),
    ],
)
def test_anything_else_is_unknown_service(router: Router, method: str, path: str) -> None:
    with pytest.raises(UnknownService):
        router.match(method, path)


def test_another_method_at_an_operations_path_is_405_with_the_most_specific_allow() -> None:
    provider = ProviderSpec(
        name="p",
        base_url="http://p.test",
        operations=[
            OperationSpec(id="by_id", method="GET", path="/v1/items/{item_id}"),
            OperationSpec(id="drop", method="DELETE", path="/v1/items/{item_id}"),
            OperationSpec(id="verify", method="POST", path="/v1/items/verify"),
        ],
    )
    router = Router(Registry(providers=[provider]), Settings())
    with pytest.raises(MethodNotAllowed) as by_id:
        router.match("PUT", "/p/v1/items/7")
    assert by_id.value.headers["Allow"] == "DELETE, GET"
    with pytest.raises(MethodNotAllowed) as verify:  # the literal wins, as in the mocks
        router.match("PUT", "/p/v1/items/verify")
    assert verify.value.headers["Allow"] == "POST"
    with pytest.raises(UnknownService):  # no operation at the path under any method
        router.match("PUT", "/p/v1/items/7/extra")


def test_literal_segment_beats_a_parameter() -> None:
    provider = ProviderSpec(
        name="p",
        base_url="http://p.test",
        operations=[
            OperationSpec(id="by_id", method="GET", path="/v1/items/{item_id}"),
            OperationSpec(id="latest", method="GET", path="/v1/items/latest"),
        ],
    )
    router = Router(Registry(providers=[provider]), Settings())
    assert router.match("GET", "/p/v1/items/latest").route.operation_id == "latest"
    assert router.match("GET", "/p/v1/items/7").route.operation_id == "by_id"


def test_operation_timeouts_override_the_providers() -> None:
    provider = ProviderSpec.model_validate(
        {
            "name": "p",
            "base_url": "http://p.test",
            "timeouts": {"connect_s": 1, "read_s": 2, "total_s": 3},
            "operations": [
                {"id": "slow", "method": "GET", "path": "/v1/x", "timeouts": {"read_s": 9}}
            ],
        }
    )
    route = Router(Registry(providers=[provider]), Settings()).by_service["p.slow"]
    assert (route.timeouts.connect_s, route.timeouts.read_s, route.timeouts.total_s) == (1, 9, 3)
