"""The registry: the shipped default equals the code; a bad file stops the start, naming a field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from contracts.provinces import PROVINCES
from gateway.registry import (
    DEFAULT_REGISTRY_PATH,
    RegistryError,
    TimeoutOverride,
    Timeouts,
    default_registry,
    load_registry,
    parse_registry,
    render_registry,
    sample_consumer,
    subscribed,
)
from ndxp_config.settings import GatewaySettings, MockSettings, Settings


def _settings(path: Path | None = None, **kw: object) -> Settings:
    return Settings(gateway=GatewaySettings(registry_path=path), **kw)  # type: ignore[arg-type]


def _raw() -> dict[str, object]:
    data: dict[str, object] = yaml.safe_load(render_registry(default_registry()))
    return data


def test_shipped_registry_file_equals_the_code() -> None:
    assert DEFAULT_REGISTRY_PATH.read_text(encoding="utf-8") == render_registry(
        default_registry()
    ), "run `python -m gateway.registry --write`"


def test_default_registry_has_one_onestop_consumer_per_province() -> None:
    registry = load_registry(_settings())
    assert len(registry.consumers) == len(PROVINCES) == 63
    thanh_hoa = registry.consumer("onestop-thanh-hoa")
    assert thanh_hoa is not None
    assert thanh_hoa.province == "038"
    assert thanh_hoa.client_secret.get_secret_value() == "dev-secret-thanh-hoa"
    assert thanh_hoa.name == "HTTT giải quyết TTHC tỉnh Thanh Hóa"


def test_default_registry_caps_population_lookups_at_50000_a_day() -> None:
    for consumer in load_registry(_settings()).consumers:
        assert consumer.service_quotas["population.get_citizen"] == 50_000


def test_default_registry_gives_v1_and_v2_of_an_operation_one_counter() -> None:
    registry = load_registry(_settings())
    shared = {
        f"{p.name}.{op.id}": op.quota_service
        for p in registry.providers
        for op in p.operations
        if op.quota_service is not None
    }
    assert shared["population.get_citizen_v2"] == "population.get_citizen"
    assert shared["driver-licence.get_licence_v2"] == "driver-licence.get_licence"
    # Every v2 operation, and only those, shares its v1's counter.
    assert set(shared) == {s for s in registry.services() if s.endswith("_v2")}
    assert all(target == service.removesuffix("_v2") for service, target in shared.items())
    for consumer in registry.consumers:  # 50,000 lookups a day in all, not per version
        assert "population.get_citizen_v2" not in consumer.service_quotas


def test_default_registry_routes_every_catalogue_operation() -> None:
    from contracts.catalogue import OPERATIONS

    assert load_registry(_settings()).services() == {op.service for op in OPERATIONS}


def test_provider_url_defaults_to_the_mock_from_settings() -> None:
    settings = _settings(mocks=MockSettings(host="10.0.0.9"))
    registry = load_registry(settings)
    population = registry.providers[0]
    assert registry.base_url(population, settings) == "http://10.0.0.9:8101"


def test_yaml_base_url_overrides_the_mock(tmp_path: Path) -> None:
    raw = _raw()
    raw["providers"][0]["base_url"] = "http://c06.example:9000/"  # type: ignore[index]
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    settings = _settings(path)
    registry = load_registry(settings)
    assert registry.base_url(registry.providers[0], settings) == "http://c06.example:9000"


@pytest.mark.parametrize(
    ("mutate", "named"),
    [
        pytest.param(lambda r: r["consumers"][3].pop("client_secret"), "consumers[3].client_secret",
                     id="missing-secret"),
        pytest.param(lambda r: r["consumers"][0].update(daily_quota=-1), "consumers[0].daily_quota",
                     id="negative-quota"),
        pytest.param(lambda r: r["providers"][0]["operations"][0].update(path="v1/x"),
                     "providers[0].operations[0]", id="bad-template"),
        pytest.param(lambda r: r["consumers"][1].update(subscriptions=["population.nope"]),
                     "consumers[1].subscriptions", id="unknown-subscription"),
        pytest.param(lambda r: r["consumers"][1].update(id=r["consumers"][0]["id"]),
                     "duplicate consumer id", id="duplicate-consumer"),
        pytest.param(lambda r: r.update(extra_key=1), "extra_key", id="unknown-key"),
        pytest.param(lambda r: r["providers"][0]["operations"][4].update(quota_service="pop.x"),
                     "population.get_citizen_v2: quota_service", id="unknown-quota-service"),
        pytest.param(lambda r: r["providers"][0]["operations"][0].update(
                         quota_service="population.resolve_legacy_id_v2"),
                     "population.get_citizen: quota_service", id="quota-service-chain"),
        pytest.param(lambda r: r["consumers"][2]["service_quotas"].update(
                         {"population.get_citizen_v2": 10}),
                     "consumers[2].service_quotas: population.get_citizen_v2 counts against "
                     "population.get_citizen", id="quota-on-a-shared-counter"),
    ],
)  # fmt: skip
def test_bad_registry_is_refused_with_the_field_named(
    tmp_path: Path, mutate: object, named: str
) -> None:
    raw = _raw()
    mutate(raw)  # type: ignore[operator]
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RegistryError, match="invalid registry") as caught:
        load_registry(_settings(path))
    assert named in str(caught.value)
    assert str(path) in str(caught.value)


def test_unreadable_registry_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RegistryError, match="cannot read"):
        load_registry(_settings(tmp_path / "missing.yaml"))


def test_dev_secrets_are_refused_outside_dev_mode() -> None:
    settings = Settings(
        mode="prod",
        gateway=GatewaySettings(jwt_secret="x" * 40, admin_token="y" * 40),  # type: ignore[arg-type]
    )
    with pytest.raises(RegistryError, match="dev secrets are refused"):
        load_registry(settings)


def test_provider_that_is_not_a_mock_needs_a_base_url() -> None:
    raw = {
        "providers": [
            {"name": "land", "operations": [{"id": "a", "method": "GET", "path": "/v1/a"}]}
        ]
    }
    registry = parse_registry(raw)
    with pytest.raises(RegistryError, match="base_url"):
        registry.base_url(registry.providers[0], Settings())


def test_subscriptions_accept_exact_services_and_provider_wildcards() -> None:
    consumer = (
        load_registry(_settings())
        .consumers[0]
        .model_copy(update={"subscriptions": ["population.*", "civil-registry.get_registration"]})
    )
    assert subscribed(consumer, "population.get_citizen")
    assert subscribed(consumer, "civil-registry.get_registration")
    assert not subscribed(consumer, "civil-registry.submit_birth_registration")


def test_sample_consumer_is_thanh_hoa() -> None:
    assert sample_consumer(_settings()) == ("onestop-thanh-hoa", "dev-secret-thanh-hoa")


def test_the_time_scale_multiplies_every_timeout_the_gateway_gives_a_provider() -> None:
    registry = load_registry(Settings(time_scale=0.05))
    for provider in registry.providers:
        assert provider.timeouts == Timeouts(connect_s=0.25, read_s=1.5, total_s=1.75)
    override = TimeoutOverride(read_s=60.0)
    assert override.scaled(0.05) == TimeoutOverride(read_s=3.0)


def test_the_old_mock_only_fault_scale_is_refused_with_its_new_name() -> None:
    with pytest.raises(ValueError, match="NDXP_TIME_SCALE"):
        Settings(mocks={"fault_time_scale": 0.05})
