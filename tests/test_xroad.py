"""PR-REST paths and X-Road error codes (contracts/xroad.py)."""

from __future__ import annotations

import pytest

from contracts.catalogue import PROVIDERS
from contracts.xroad import (
    PathError,
    client_id,
    error_type,
    gateway_path,
    pr_rest_path,
    service_of,
    valid_client,
)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_every_national_database_has_a_service_and_its_path_maps_back(provider: str) -> None:
    path = pr_rest_path("VN", provider, "/v1/anything/038090001234")
    service, target = gateway_path(path, "VN")
    assert service.provider == provider
    assert target == f"/{provider}/v1/anything/038090001234"


def test_a_path_names_instance_class_member_subsystem_and_service() -> None:
    path = pr_rest_path("VN", "population", "/v1/citizens/038090001234")
    assert path == "/r1/VN/GOV/BCA/CSDLQGDC/population/v1/citizens/038090001234"
    assert service_of("population").service_id("VN") == "VN/GOV/BCA/CSDLQGDC/population"


def test_the_rest_of_the_path_is_passed_on_byte_for_byte() -> None:
    _, target = gateway_path("/r1/VN/GOV/BCA/CSDLQGDC/population/v1/a%2Fb/..", "VN")
    assert target == "/population/v1/a%2Fb/.."  # the gateway refuses it, not the mapping


def test_percent_encoded_identifiers_are_decoded() -> None:
    service, _ = gateway_path("/r1/VN/GOV/B%43A/CSDLQGDC/population/v1/x", "VN")
    assert service.member_code == "BCA"


@pytest.mark.parametrize(
    ("path", "code"),
    [
        pytest.param("/population/v1/citizens/1", "Server.ClientProxy.InvalidProtocolVersion",
                     id="not-pr-rest"),
        pytest.param("/r2/VN/GOV/BCA/CSDLQGDC/population/v1/x",
                     "Server.ClientProxy.InvalidProtocolVersion", id="another-version"),
        pytest.param("/r1/VN/GOV/BCA", "Client.InvalidRequest", id="too-short"),
        pytest.param("/r1/VN/GOV//CSDLQGDC/population", "Client.InvalidRequest", id="empty-part"),
        pytest.param("/r1/EE/GOV/BCA/CSDLQGDC/population/v1/x",
                     "Server.ServerProxy.UnknownService", id="other-instance"),
        pytest.param("/r1/VN/COM/BCA/CSDLQGDC/population/v1/x",
                     "Server.ServerProxy.UnknownService", id="other-class"),
        pytest.param("/r1/VN/GOV/BTP/CSDLQGDC/population/v1/x",
                     "Server.ServerProxy.UnknownService", id="wrong-member"),
        pytest.param("/r1/VN/GOV/BCA/CSDLQGDC/passports/v1/x",
                     "Server.ServerProxy.UnknownService", id="unknown-service"),
    ],
)  # fmt: skip
def test_a_path_naming_no_service_is_refused_with_its_xroad_code(path: str, code: str) -> None:
    with pytest.raises(PathError) as refused:
        gateway_path(path, "VN")
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("code", "v78"),
    [
        ("Server.ServerProxy.AccessDenied", "server.serverproxy.access_denied"),
        (
            "Server.ServerProxy.ServiceFailed.SslAuthenticationFailed",
            "server.serverproxy.service_failed.ssl_authentication_failed",
        ),
        ("Server.ServerProxy.ServiceFailed.IOError", "server.serverproxy.service_failed.io_error"),
        ("Server.ServerProxy.UnknownService", "server.serverproxy.unknown_service"),
        ("Client.MissingHeader", "client.missing_header"),
        ("Client.InvalidClientIdentifier", "client.invalid_client_identifier"),
    ],
)
def test_codes_are_spelled_as_up_to_7_7_or_from_7_8(code: str, v78: str) -> None:
    assert error_type(code, "7.7") == code
    assert error_type(code, "7.8") == v78


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("VN/GOV/UBND-038/MCDT", True),
        ("VN/GOV/UBND-038", True),
        ("VN/GOV", False),
        ("VN/GOV/UBND-038/MCDT/extra", False),
        ("VN//UBND-038", False),
        (None, False),
    ],
)
def test_a_client_header_is_instance_class_member_and_maybe_subsystem(
    value: str | None, valid: bool
) -> None:
    assert valid_client(value) is valid


def test_a_provinces_client_id_is_valid() -> None:
    assert valid_client(client_id("VN", "038"))
