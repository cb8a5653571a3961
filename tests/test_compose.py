"""docker-compose.yml, checked by reading it (no Docker engine runs here): every command is a
real entry point of the project, ports and environment match the settings' defaults, every
dependency waits for a healthy service, and Prometheus and Grafana are wired to each other."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.main import get_command

from ndxp_config.settings import (
    MOCK_NAMES,
    GatewaySettings,
    HopSettings,
    MockSettings,
    Settings,
    VdxpSettings,
)
from ndxp_sim.cli import app
from ndxp_sim.observe import GATEWAY_JOB

ROOT = Path(__file__).resolve().parent.parent
PROJECT_IMAGE = "ndxp-sim:latest"


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return data


def project_services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose["services"].items() if s.get("image") == PROJECT_IMAGE}


def bind_mounts(service: dict[str, Any]) -> dict[str, Path]:
    """Container path → repository path of a service's ``./host:container[:ro]`` volumes."""
    mounts = {}
    for volume in service.get("volumes", []):
        if volume.startswith("./"):
            host, container = volume.split(":")[:2]
            mounts[container] = ROOT / host
    return mounts


def option(command: list[str], name: str) -> str:
    return command[command.index(name) + 1]


def test_every_command_is_a_real_entry_point(compose: dict[str, Any]) -> None:
    commands = get_command(app).commands  # type: ignore[attr-defined]
    services = project_services(compose)
    assert set(MOCK_NAMES) | {"gateway", "locust-master", "locust-worker"} <= set(services)
    for name, service in services.items():
        command = service["command"]
        if service.get("entrypoint") == ["locust"]:
            for locustfile in option(command, "-f").split(","):
                assert (ROOT / locustfile).is_file(), f"{name}: no {locustfile}"
            continue
        assert "entrypoint" not in service, name  # the image's: ndxp-sim
        assert command[0] in commands, f"{name}: {command[0]} is not an ndxp-sim command"
        if command[0] == "serve-mock":
            assert command[1] == name
            assert name in MOCK_NAMES
        if command[0] == "serve-hop":
            assert command[1] == name
            assert name in ("lgsp", "vdxp")


def test_the_image_has_what_the_commands_need() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r'^ENTRYPOINT \["ndxp-sim"\]', dockerfile, re.M)
    copied = set(re.findall(r"^COPY (\S+) ", dockerfile, re.M))
    for directory in (
        "contracts",
        "gateway",
        "hops",
        "mock_services",
        "ndxp_config",
        "ndxp_sim",
        "liveview",
        "scenarios",
        "loadtests",
    ):
        assert directory in copied, f"the Dockerfile does not copy {directory}/"


def test_mock_ports_and_urls_match_the_settings_defaults(compose: dict[str, Any]) -> None:
    defaults = MockSettings()
    gateway_env = compose["services"]["gateway"]["environment"]
    urls = json.loads(gateway_env["NDXP_MOCKS__URLS"])
    for name in MOCK_NAMES:
        port = defaults.ports[name]
        assert compose["services"][name]["ports"] == [f"{port}:{port}"]
        assert urls[name] == f"http://{name}:{port}"
    settings = Settings(mocks=MockSettings(urls=urls))
    assert settings.mocks.url("population") == "http://population:8101"


def test_gateway_port_matches_the_settings_default(compose: dict[str, Any]) -> None:
    port = GatewaySettings().port
    gateway = compose["services"]["gateway"]
    assert "ports" not in gateway  # replicas cannot share a host port: nginx has it
    assert compose["services"]["nginx"]["ports"] == [f"{port}:{port}"]
    assert gateway["environment"]["NDXP_GATEWAY__PORT"] == str(port)
    for name in ("locust-master",):
        assert option(compose["services"][name]["command"], "--host") == f"http://nginx:{port}"


def test_gateway_replicas_sit_behind_nginx_and_share_redis_and_postgres(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    gateway = services["gateway"]
    assert gateway["deploy"]["replicas"] >= 2
    env = gateway["environment"]
    assert env["NDXP_GATEWAY__QUOTA_STORE_URL"] == "redis://redis:6379/0"
    assert env["NDXP_GATEWAY__QUOTA_FAILURE_POLICY"] in ("closed", "open")
    postgres = services["postgres"]["environment"]
    assert env["NDXP_GATEWAY__EXCHANGE_LOG_URL"] == (
        f"postgresql://{postgres['POSTGRES_USER']}:{postgres['POSTGRES_PASSWORD']}"
        f"@postgres:5432/{postgres['POSTGRES_DB']}"
    )
    assert {"redis", "postgres"} <= set(gateway["depends_on"])
    # Redis keeps every admission it acknowledged across a crash (AOF, fsync always).
    redis = " ".join(services["redis"]["command"])
    assert "--appendonly yes" in redis
    assert "--appendfsync always" in redis
    # nginx: the committed config, upstream every replica of `gateway` on the gateway's port.
    config = bind_mounts(services["nginx"])["/etc/nginx/nginx.conf"]
    assert config == ROOT / "deploy/nginx/nginx.conf"
    text = config.read_text()
    port = GatewaySettings().port
    assert f"server gateway:{port}" in text
    assert f"listen {port}" in text
    assert "proxy_next_upstream error;" in text
    assert "daemon off" not in text  # the image runs nginx in the foreground itself


def test_the_hops_take_the_settings_ports_and_reach_the_gateway_through_nginx(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    gateway_env = services["gateway"]["environment"]
    for name, defaults in (("lgsp", HopSettings()), ("vdxp", VdxpSettings())):
        hop = services[name]
        env = hop["environment"]
        prefix = f"NDXP_{name.upper()}__"
        assert hop["ports"] == [f"{defaults.port}:{defaults.port}"]
        assert env[f"{prefix}PORT"] == str(defaults.port)
        assert env[f"{prefix}GATEWAY_URL"] == f"http://nginx:{GatewaySettings().port}"
        # the gateway's scenario switch reaches the hop by its service name
        assert gateway_env[f"{prefix}PUBLIC_URL"] == f"http://{name}:{defaults.port}"
        assert "nginx" in hop["depends_on"]


def test_every_dependency_waits_for_a_healthy_service(compose: dict[str, Any]) -> None:
    services = compose["services"]
    depends = services["gateway"]["depends_on"]
    assert {name: dep["condition"] for name, dep in depends.items()} == dict.fromkeys(
        [*MOCK_NAMES, "redis", "postgres"], "service_healthy"
    )
    for name, service in services.items():
        for dependency, condition in service.get("depends_on", {}).items():
            assert condition == {"condition": "service_healthy"}, f"{name} → {dependency}"
            assert "healthcheck" in services[dependency], f"{dependency} has no healthcheck"


def test_every_server_has_a_healthcheck_on_its_own_health_endpoint(
    compose: dict[str, Any],
) -> None:
    expected = {
        **dict.fromkeys([*MOCK_NAMES, "gateway"], "/healthz"),
        "lgsp": ":8201/healthz",
        "vdxp": ":8202/healthz",
        "nginx": ":8000/healthz",
        "prometheus": "/-/healthy",
        "grafana": "/api/health",
        "redis": "ping",
        "postgres": "pg_isready",
        "locust-master": ":8089/",
    }
    for name, probe in expected.items():
        test = " ".join(compose["services"][name]["healthcheck"]["test"])
        assert probe in test, f"{name}: {test}"
    # Workers serve nothing; nothing waits for them.
    assert "healthcheck" not in compose["services"]["locust-worker"]
    worker = compose["services"]["locust-worker"]["command"]
    assert option(worker, "--master-host") == "locust-master"


def test_environment_variables_are_settings_the_project_reads(compose: dict[str, Any]) -> None:
    section_fields = {
        "MOCKS": MockSettings.model_fields,
        "GATEWAY": GatewaySettings.model_fields,
        "LGSP": HopSettings.model_fields,
        "VDXP": VdxpSettings.model_fields,
    }
    for name, service in compose["services"].items():
        env = {k: v for k, v in service.get("environment", {}).items() if k.startswith("NDXP_")}
        for key in env:
            section, field = key.removeprefix("NDXP_").split("__")
            assert field.lower() in section_fields[section], f"{name}: {key} is not a setting"


def test_prometheus_scrapes_the_gateway_with_the_committed_config(compose: dict[str, Any]) -> None:
    prometheus = compose["services"]["prometheus"]
    committed = bind_mounts(prometheus)["/etc/prometheus/prometheus.yml"]
    assert committed == ROOT / "deploy/prometheus/prometheus.yml"
    config = yaml.safe_load(committed.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    gateway = jobs[GATEWAY_JOB]
    assert gateway["metrics_path"] == "/metrics"
    # Every replica on its own (through nginx a scrape would reach one at random).
    (discovery,) = gateway["dns_sd_configs"]
    assert discovery["names"] == ["gateway"]
    assert (discovery["type"], discovery["port"]) == ("A", GatewaySettings().port)
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]


def test_grafana_is_provisioned_with_the_prometheus_source_and_the_dashboard(
    compose: dict[str, Any],
) -> None:
    grafana = compose["services"]["grafana"]
    mounts = bind_mounts(grafana)
    provisioning = mounts["/etc/grafana/provisioning"]
    dashboards = mounts["/var/lib/grafana/dashboards"]
    source = yaml.safe_load((provisioning / "datasources/prometheus.yml").read_text())
    datasource = source["datasources"][0]
    prometheus_port = compose["services"]["prometheus"]["ports"][0].split(":")[1]
    assert datasource["url"] == f"http://prometheus:{prometheus_port}"
    provider = yaml.safe_load((provisioning / "dashboards/ndxp.yml").read_text())["providers"][0]
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"
    dashboard = json.loads((dashboards / "ndxp.json").read_text())
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"], panel["title"]
        assert panel["targets"], panel["title"]


def test_every_dashboard_query_adds_up_the_replicas() -> None:
    # Each replica is its own scrape target: a query on a bare series would show one line per
    # instance. Counters and histograms are summed; the quota gauges, the same shared value
    # read by every instance, are maxed.
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/ndxp.json").read_text())
    exprs = {p["title"]: [t["expr"] for t in p["targets"]] for p in dashboard["panels"]}
    for title, queries in exprs.items():
        for expr in queries:
            inner = expr.removeprefix("topk(10, ").removeprefix("histogram_quantile(")
            inner = re.sub(r"^0\.\d+, ", "", inner)
            assert inner.startswith(("sum(", "sum by", "max by")), f"{title}: {expr}"
            if "ndxp_quota_used" in expr or "ndxp_quota_limit" in expr:
                assert expr.startswith("max by"), f"{title}: a shared gauge is not summed"
    assert (
        "sum(ndxp_quota_unmetered_total) or vector(0)"
        in exprs["Admitted unmetered (quota store down)"]
    )
