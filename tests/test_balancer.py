"""``up --replicas N``: the planned instances, their ports and directories, nginx's config.

The config is checked by nginx itself (``nginx -t``); the instances running behind it are in
tests/integration/test_scale.py.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ndxp_config.settings import GatewaySettings, Settings
from ndxp_sim import supervisor
from ndxp_sim.balancer import NginxService, find_nginx, render_config
from ndxp_sim.private_servers import ServerMissing


def settings(tmp_path: Path, port: int = 18_000) -> Settings:
    return Settings(state_dir=tmp_path / "state", gateway=GatewaySettings(port=port))


def test_replicas_behind_nginx_take_the_next_ports_each_with_its_metrics_dir(
    tmp_path: Path,
) -> None:
    planned = supervisor.plan(settings(tmp_path), env={}, replicas=3, nginx="/usr/sbin/nginx")
    gateways = [s for s in planned if s.name.startswith("gateway")]
    assert [(s.name, s.url) for s in gateways] == [
        ("gateway-1", "http://127.0.0.1:18001"),
        ("gateway-2", "http://127.0.0.1:18002"),
        ("gateway-3", "http://127.0.0.1:18003"),
    ]
    assert [s.env["NDXP_GATEWAY__PORT"] for s in gateways] == ["18001", "18002", "18003"]
    metrics_dirs = {s.env["PROMETHEUS_MULTIPROC_DIR"] for s in gateways}
    assert len(metrics_dirs) == 3  # one per instance: a scrape sums its own workers only
    (front,) = [s for s in planned if s.name == "nginx"]
    assert front.url == "http://127.0.0.1:18000"
    assert front.tier > max(s.tier for s in gateways)  # stopped first: no new calls come in


def test_without_nginx_the_instances_take_the_gateways_port_and_the_next(tmp_path: Path) -> None:
    planned = supervisor.plan(settings(tmp_path), env={}, replicas=2, nginx=None)
    assert [s.url for s in planned if s.name.startswith("gateway")] == [
        "http://127.0.0.1:18000",
        "http://127.0.0.1:18001",
    ]
    assert not any(s.name == "nginx" for s in planned)


def test_one_replica_is_the_plain_gateway(tmp_path: Path) -> None:
    planned = supervisor.plan(settings(tmp_path), env={}, replicas=1, nginx="/usr/sbin/nginx")
    assert [s.name for s in planned if "gateway" in s.name or s.name == "nginx"] == ["gateway"]


def test_the_config_spreads_over_every_instance_without_buffering_to_disk(tmp_path: Path) -> None:
    config = render_config(settings(tmp_path), [18001, 18002], tmp_path / "nginx")
    assert "listen 127.0.0.1:18000" in config
    assert "server 127.0.0.1:18001 max_fails=0;" in config
    assert "server 127.0.0.1:18002 max_fails=0;" in config
    assert "daemon off;" in config
    assert "proxy_request_buffering off;" in config
    assert "proxy_next_upstream error;" in config  # never a second try after sending


def test_nginx_accepts_the_generated_config(tmp_path: Path) -> None:
    nginx = find_nginx()
    if nginx is None:
        raise ServerMissing("nginx is not installed: apt-get install nginx (.ci/run does)")
    (service,) = [
        s
        for s in supervisor.plan(settings(tmp_path), env={}, replicas=2, nginx=nginx)
        if isinstance(s, NginxService)
    ]
    service.argv.append("-t")  # test the config and exit
    service.start()
    assert service.process is not None
    assert service.process.wait(timeout=30) == 0, service.tail()
    assert "test is successful" in service.tail()


@pytest.mark.parametrize("replicas", [0, 1])
def test_gateway_instances_need_two_or_more(tmp_path: Path, replicas: int) -> None:
    from ndxp_sim.balancer import gateway_instances

    with pytest.raises(ValueError, match="two replicas"):
        gateway_instances(settings(tmp_path), replicas, {}, nginx=None)


def test_nginx_runs_as_a_child_of_the_supervisor_in_the_foreground(tmp_path: Path) -> None:
    nginx = find_nginx()
    if nginx is None:
        raise ServerMissing("nginx is not installed: apt-get install nginx (.ci/run does)")
    (service,) = [
        s
        for s in supervisor.plan(settings(tmp_path), env={}, replicas=2, nginx=nginx)
        if isinstance(s, NginxService)
    ]
    assert service.argv[:5] == [
        nginx,
        "-p",
        str(service.prefix),
        "-c",
        str(service.prefix / "nginx.conf"),
    ]
    assert service.prefix == (tmp_path / "state").resolve() / "nginx"
    version = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=True)
    assert "nginx/" in version.stderr
