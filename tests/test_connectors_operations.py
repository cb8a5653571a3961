"""One typed method per catalogue operation, and the SDK end to end through the real gateway.

The end-to-end tests run the real gateway app in-process (``gateway.testing.running_gateway``)
in front of the real mock apps (``httpx.ASGITransport``): the SDK's paths, query strings,
bodies and header parsing meet the code that really answers them, without sockets.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import BaseModel

from connectors import ClientEvent, NdxpClient, NotFound, QuotaExceeded
from connectors.operations import (
    BusinessRegistry,
    CivilRegistry,
    DriverLicence,
    JudicialRecords,
    Population,
)
from contracts.catalogue import OPERATIONS, PROVIDERS, Operation
from contracts.civil_registry import BirthRegistrationRequest, Registration
from contracts.population import Citizen
from gateway.testing import THANH_HOA, running_gateway
from mock_services.apps import create_mock_app
from mock_services.civil_registry import example_requests
from mock_services.civil_registry_store import RegistrationStore
from mock_services.population import sample_ids
from ndxp_config.settings import GatewaySettings, MockSettings, Settings

NAMESPACES = {
    "population": "population",
    "business-registry": "business_registry",
    "driver-licence": "driver_licence",
    "civil-registry": "civil_registry",
    "judicial-records": "judicial_records",
}
SEED = 2024


def public_methods(namespace: object) -> set[str]:
    return {
        name
        for name, member in inspect.getmembers(type(namespace), inspect.iscoroutinefunction)
        if not name.startswith("_")
    }


def test_every_operation_has_its_method_and_nothing_more() -> None:
    ndxp = NdxpClient("http://gateway.test", *THANH_HOA)
    assert set(NAMESPACES) == set(PROVIDERS)
    for provider, attribute in NAMESPACES.items():
        expected = {op.operation_id for op in OPERATIONS if op.provider == provider}
        assert public_methods(getattr(ndxp, attribute)) == expected, provider


@pytest.mark.parametrize("op", OPERATIONS, ids=lambda op: op.service)
def test_method_signature_follows_the_catalogue(op: Operation) -> None:
    namespace = {
        "population": Population,
        "business-registry": BusinessRegistry,
        "driver-licence": DriverLicence,
        "civil-registry": CivilRegistry,
        "judicial-records": JudicialRecords,
    }[op.provider]
    method = getattr(namespace, op.operation_id)
    hints = typing.get_type_hints(method)
    params = inspect.signature(method).parameters

    expected_return = op.load_response_model() or bytes
    assert hints["return"] is expected_return
    path_params = op.path.split("{")[1:]
    positional = [
        name
        for name, p in params.items()
        if p.kind is inspect.Parameter.POSITIONAL_OR_KEYWORD and name != "self"
    ]
    expected_positional = [name.split("}")[0] for name in path_params]
    if op.method == "POST":
        expected_positional.append("body")
        assert issubclass(hints["body"], BaseModel)
        assert "idempotency_key" in params
    assert positional == expected_positional
    assert params["timeout"].kind is inspect.Parameter.KEYWORD_ONLY


class Recorder:
    """A :class:`~connectors.operations.Caller` that records what a method asks for."""

    def __init__(self) -> None:
        self.calls: list[tuple[Operation, Mapping[str, str] | None, dict[str, Any]]] = []

    async def call(
        self, op: Operation, model: type, path_params: Mapping[str, str] | None = None, **kw: Any
    ) -> Any:
        self.calls.append((op, path_params, kw))
        return None

    async def call_bytes(
        self, op: Operation, path_params: Mapping[str, str] | None = None, **kw: Any
    ) -> bytes:
        self.calls.append((op, path_params, kw))
        return b""


async def test_window_queries_use_the_wire_names_and_leave_out_defaults() -> None:
    recorder = Recorder()
    start = datetime(2024, 6, 2, 17, tzinfo=UTC)

    await DriverLicence(recorder).list_renewal_dossiers(
        from_=start, to=start + timedelta(days=1), province="038"
    )

    op, _, kw = recorder.calls[0]
    assert op.operation_id == "list_renewal_dossiers"
    assert kw["query"] == {
        "from": "2024-06-02T17:00:00+00:00",
        "to": "2024-06-03T17:00:00+00:00",
        "province": "038",
    }


# -- end to end, in-process ----------------------------------------------------------------


class ResetAfterForwarding(httpx.AsyncBaseTransport):
    """The provider does the work, then the connection dies before the answer arrives."""

    def __init__(self, inner: httpx.AsyncBaseTransport, resets: int) -> None:
        self.inner = inner
        self.resets = resets
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        response = await self.inner.handle_async_request(request)
        if self.resets > 0:
            self.resets -= 1
            await response.aclose()
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


@pytest.fixture
def stack_settings(tmp_path: Path) -> Settings:
    return Settings(
        state_dir=tmp_path / "state",
        mocks=MockSettings(seed=SEED),
        gateway=GatewaySettings(admin_token="test-admin-token"),  # type: ignore[arg-type]
    )


@pytest.fixture
def civil_transport(stack_settings: Settings) -> ResetAfterForwarding:
    app = create_mock_app("civil-registry", stack_settings)
    return ResetAfterForwarding(httpx.ASGITransport(app=app), resets=0)


@pytest.fixture
async def gateway_app(
    stack_settings: Settings, civil_transport: ResetAfterForwarding
) -> AsyncIterator[httpx.AsyncBaseTransport]:
    transports: dict[str, httpx.AsyncBaseTransport] = {
        name: httpx.ASGITransport(app=create_mock_app(name, stack_settings))
        for name in ("population", "business-registry", "driver-licence")
    }
    transports["civil-registry"] = civil_transport
    async with running_gateway(stack_settings, transports) as (app, _):
        yield httpx.ASGITransport(app=app)


async def test_lookup_through_the_real_gateway_returns_the_model(
    gateway_app: httpx.AsyncBaseTransport,
) -> None:
    events: list[ClientEvent] = []
    pid = sample_ids(SEED, "038", 1)[0]
    async with NdxpClient(
        "http://gateway.test", *THANH_HOA, transport=gateway_app, on_event=events.append
    ) as ndxp:
        citizen = await ndxp.population.get_citizen(pid)
        with pytest.raises(NotFound) as caught:
            await ndxp.population.get_citizen("038090999999")

    assert isinstance(citizen, Citizen)
    assert citizen.personal_id == pid
    assert not caught.value.from_gateway  # the population database said so, not NDXP
    assert caught.value.exchange_id
    responses = [e for e in events if e.kind == "response"]
    assert responses[0].quota_remaining is not None  # population lookups have a daily quota
    assert responses[0].exchange_id


async def test_idempotent_post_is_retried_without_a_duplicate_registration(
    gateway_app: httpx.AsyncBaseTransport,
    civil_transport: ResetAfterForwarding,
    stack_settings: Settings,
) -> None:
    body: BirthRegistrationRequest = example_requests(SEED)[0]
    civil_transport.resets = 1  # the first submission is stored, its answer lost

    async with NdxpClient(
        "http://gateway.test", *THANH_HOA, transport=gateway_app, sleep=_no_wait
    ) as ndxp:
        registration = await ndxp.civil_registry.submit_birth_registration(
            body, idempotency_key=body.dossier_code
        )
        again = await ndxp.civil_registry.get_registration(registration.registration_id)
        exchange = ndxp.last_exchange

    assert isinstance(registration, Registration)
    assert civil_transport.requests == 3  # the lost one, its retry, the read-back
    assert again.registration_id == registration.registration_id
    assert exchange is not None
    assert exchange.status == 200
    store = RegistrationStore(stack_settings.state_dir / f"civil-registry-{SEED}.db")
    assert store.count(dossier_code=body.dossier_code) == 1


async def test_post_without_key_is_not_retried_after_a_reset(
    gateway_app: httpx.AsyncBaseTransport, civil_transport: ResetAfterForwarding
) -> None:
    body = example_requests(SEED)[0]
    civil_transport.resets = 1

    async with NdxpClient(
        "http://gateway.test", *THANH_HOA, transport=gateway_app, sleep=_no_wait
    ) as ndxp:
        with pytest.raises(Exception, match="upstream_reset"):
            await ndxp.civil_registry.submit_birth_registration(body)

    assert civil_transport.requests == 1


async def test_reserve_against_the_real_quota_headers(
    gateway_app: httpx.AsyncBaseTransport,
) -> None:
    pid = sample_ids(SEED, "038", 1)[0]
    async with NdxpClient(
        "http://gateway.test", *THANH_HOA, transport=gateway_app, quota_reserve=50_000
    ) as ndxp:
        await ndxp.population.get_citizen(pid)  # 49,999 left of 50,000: inside the reserve
        with pytest.raises(QuotaExceeded) as caught:
            await ndxp.population.get_citizen(pid)

    assert caught.value.reserve
    assert caught.value.policy == "daily-population.get_citizen"
    assert caught.value.remaining == 49_999


async def _no_wait(_: float) -> None:
    return None
