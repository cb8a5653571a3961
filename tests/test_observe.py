"""``ndxp-sim up --observe``'s Prometheus: the committed scrape config rendered for loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from ndxp_config.settings import GatewaySettings, Settings
from ndxp_sim import observe


def jobs(text: str) -> dict[str, list[str]]:
    config = yaml.safe_load(text)
    return {
        job["job_name"]: [t for s in job["static_configs"] for t in s["targets"]]
        for job in config["scrape_configs"]
    }


def test_rendered_config_points_at_this_machines_gateway_and_prometheus(
    make_settings: Callable[..., Settings],
) -> None:
    settings = make_settings(gateway=GatewaySettings(host="0.0.0.0", port=8123))
    text = observe.render_config(settings, port=9191, scrape_interval="1s")
    assert jobs(text) == {
        observe.GATEWAY_JOB: ["127.0.0.1:8123"],
        observe.HOPS_JOB: [
            f"127.0.0.1:{settings.lgsp.port}",
            f"127.0.0.1:{settings.vdxp.port}",
        ],
        observe.SELF_JOB: ["127.0.0.1:9191"],
    }
    assert yaml.safe_load(text)["global"]["scrape_interval"] == "1s"
    # The committed file keeps compose's service names: every gateway replica, found by DNS.
    committed = yaml.safe_load(observe.COMMITTED_CONFIG.read_text())["scrape_configs"]
    (gateway,) = [job for job in committed if job["job_name"] == observe.GATEWAY_JOB]
    assert gateway["dns_sd_configs"] == [
        {"names": ["gateway"], "type": "A", "port": 8000, "refresh_interval": "15s"}
    ]


def test_every_replica_is_scraped_on_its_own(make_settings: Callable[..., Settings]) -> None:
    settings = make_settings(gateway=GatewaySettings(port=8000))
    instances = ["127.0.0.1:8001", "127.0.0.1:8002"]
    text = observe.render_config(settings, gateway_targets=instances)
    assert jobs(text)[observe.GATEWAY_JOB] == instances


def test_service_writes_config_and_data_under_the_state_dir(
    settings: Settings, tmp_path: Path
) -> None:
    fake = tmp_path / "prometheus"
    service = observe.prometheus_service(settings, port=9191, binary=str(fake), env={})
    config = settings.state_dir.resolve() / "observe" / "prometheus.yml"
    assert service.argv[0] == str(fake)
    assert f"--config.file={config}" in service.argv
    assert "--web.listen-address=127.0.0.1:9191" in service.argv
    assert service.url == "http://127.0.0.1:9191"
    assert jobs(config.read_text())[observe.GATEWAY_JOB] == ["127.0.0.1:8000"]


def test_without_prometheus_the_error_says_how_to_install_it(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no prometheus on PATH
    assert observe.find_prometheus() is None
    with pytest.raises(observe.ObserveError, match="apt-get install -y prometheus"):
        observe.prometheus_service(settings)
