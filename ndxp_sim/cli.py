"""``ndxp-sim`` — run the simulated NDXP stack and work with its contracts.

Every command has ``--help``. Settings come from ``NDXP_*`` environment variables (see
:mod:`ndxp_config.settings`), read once when a command starts.
"""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, NoReturn

import typer
from rich.console import Console

from ndxp_config.settings import MOCK_NAMES, Settings, get_settings
from ndxp_sim.cli_consumers import consumers_app, kit_command
from ndxp_sim.cli_contracts import contracts_app
from ndxp_sim.cli_scenarios import report_command, scenario_app

if TYPE_CHECKING:
    from ndxp_sim.supervisor import Service

app = typer.Typer(
    name="ndxp-sim",
    help="A simulator of Vietnam's national data-sharing platform (NDXP).",
    no_args_is_help=True,
    add_completion=False,
)
console = Console()
app.add_typer(scenario_app, name="scenario")
app.command("report")(report_command)
app.command("kit")(kit_command)
app.add_typer(consumers_app, name="consumers")
app.add_typer(contracts_app, name="contracts")

# What stops `up` in order: docker stop/systemd/kill, Ctrl-C, the terminal closing.
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


@app.command()
def up(
    gateway: Annotated[
        bool, typer.Option("--gateway/--no-gateway", help="Also start the NDXP gateway.")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for every service.")] = 30.0,
    scenario: Annotated[
        str | None,
        typer.Option(help="Start under this failure scenario (`ndxp-sim scenario list`)."),
    ] = None,
    observe: Annotated[
        bool,
        typer.Option(
            "--observe",
            help="Also start Prometheus (if installed) on 127.0.0.1:9090, scraping the gateway.",
        ),
    ] = False,
    traffic: Annotated[
        bool,
        typer.Option(
            "--traffic/--no-traffic",
            help="Also run the 63 one-stop systems' flows in the background (log: "
            "logs/traffic.log), so metrics move.",
        ),
    ] = False,
    traffic_rate: Annotated[
        float | None,
        typer.Option(
            min=0.001, help="Flows per second for --traffic; default from the reports (0.5)."
        ),
    ] = None,
    traffic_shape: Annotated[
        Literal["flat", "business-day"],
        typer.Option(
            help="flat: --traffic-rate all day; business-day: --traffic-rate at the morning "
            "peak, less at other hours of the simulated day (the mocks' fault clock, which "
            "runs 1/NDXP_TIME_SCALE as fast; PUT /admin/clock moves it).",
        ),
    ] = "flat",
    live: Annotated[
        bool,
        typer.Option(
            "--live/--no-live",
            help="Also start the trainers' live view (NDXP_LIVE__PORT, default 8090), fed by "
            "the gateway.",
        ),
    ] = True,
    replicas: Annotated[
        int,
        typer.Option(
            min=1,
            help="Gateway instances, each with NDXP_GATEWAY__WORKERS workers, sharing the quota "
            "store and exchange log (set NDXP_GATEWAY__QUOTA_STORE_URL=redis://... and "
            "NDXP_GATEWAY__EXCHANGE_LOG_URL=postgresql://... to share them across hosts).",
        ),
    ] = 1,
    nginx: Annotated[
        bool,
        typer.Option(
            "--nginx/--no-nginx",
            help="With --replicas: nginx (if installed) on the gateway's port in front of the "
            "instances, which take the next ports; without it the instances take the gateway's "
            "port and the next ones.",
        ),
    ] = True,
) -> None:
    """Start the four mock national databases and the NDXP gateway; Ctrl-C stops them all."""
    from ndxp_sim import supervisor

    settings = get_settings()
    balancer = _balancer(nginx) if replicas > 1 and gateway else None
    live = live and gateway
    if live:  # the gateway publishes each finished exchange to the live view's socket
        from liveview.process import live_env, live_service

        env = live_env(settings)
        planned = supervisor.plan(settings, env=env, replicas=replicas, nginx=balancer)
        services = [*planned, live_service(settings, env)]
    else:
        services = supervisor.plan(settings, gateway=gateway, replicas=replicas, nginx=balancer)
    with contextlib.ExitStack() as claimed:
        try:  # refused before any output or change: a second stack, a busy port
            claimed.enter_context(supervisor.claim(settings, services))
        except supervisor.Busy as exc:
            console.print(f"[red]ndxp-sim up refused:[/red] {exc}")
            raise typer.Exit(1) from None
        # SIGTERM (docker stop, systemd, kill), SIGINT (Ctrl-C) and SIGHUP (the terminal
        # closed) all stop the stack in order; a shell that started us in the background may
        # have left SIGINT ignored, so set it too. Should the supervisor die anyway (SIGKILL),
        # the kernel sends the children SIGTERM.
        for signum in _STOP_SIGNALS:
            signal.signal(signum, _interrupt)
        try:
            if gateway:
                supervisor.reset_metrics_dir(settings)
            _start_stack(
                settings,
                services,
                timeout,
                scenario,
                observe,
                (traffic, traffic_rate, traffic_shape),
            )
            _print_welcome(settings, services, gateway=gateway)
            dead = supervisor.watch(services)  # a child that dies on its own stops them all
        except KeyboardInterrupt:
            dead = []
            _say("\nStopping…")
        finally:
            for signum in _STOP_SIGNALS:
                signal.signal(signum, signal.SIG_IGN)  # the stop is bounded: let it finish
            supervisor.stop(services)
    if dead:
        _say(f"[red]stopped because {', '.join(dead)} exited; see its log[/red]")
        raise typer.Exit(1)
    _say("All services stopped.")


def _start_stack(
    settings: Settings,
    services: list[Service],
    timeout: float,
    scenario: str | None,
    observe: bool,
    traffic_asked: tuple[bool, float | None, Literal["flat", "business-day"]],
) -> None:
    """Start ``services``, then the scenario, traffic (on, rate, shape) and Prometheus asked
    for; on failure print why and exit 1 (the caller stops whatever was started)."""
    from ndxp_sim import supervisor

    traffic, traffic_rate, traffic_shape = traffic_asked

    gateway = any(s.name == "gateway" or s.name.startswith("gateway-") for s in services)
    if (traffic or traffic_rate is not None) and not gateway:
        _fail("--traffic needs the gateway")
    try:
        supervisor.start_all(services, timeout)
        if scenario is not None:
            _start_scenario(settings, scenario, gateway=gateway)
    except (supervisor.StartupError, RuntimeError) as exc:
        _fail(str(exc))
    if traffic or traffic_rate is not None:
        from connectors.provinces import DEFAULT_RATE
        from ndxp_sim.traffic import traffic_service

        rate = traffic_rate or DEFAULT_RATE
        # no /healthz: started once the stack is up
        runner = traffic_service(settings, rate, shape=traffic_shape)
        runner.start()
        services.append(runner)
        at_peak = " at the peak of the business day" if traffic_shape == "business-day" else ""
        console.print(
            f"Traffic: {rate:g} flows/s{at_peak} from the 63 one-stop systems ({runner.log_path})"
        )
    if observe and gateway:
        from ndxp_sim import observe as observability

        try:
            instances = [
                s.url.removeprefix("http://") for s in services if s.name.startswith("gateway-")
            ]
            services.append(
                observability.start_prometheus(
                    settings, timeout_s=timeout, gateway_targets=instances or None
                )
            )
        except observability.ObserveError as exc:
            console.print(f"[yellow]--observe: {exc}; the stack runs without it[/yellow]")


def _fail(message: str) -> NoReturn:
    console.print(f"[red]ndxp-sim up failed:[/red] {message}")
    raise typer.Exit(1)


def _say(message: str) -> None:
    """Print, unless the terminal is gone (SIGHUP): stopping must not fail on a closed tty."""
    with contextlib.suppress(OSError):
        console.print(message)


def _start_scenario(settings: Settings, name: str, *, gateway: bool) -> None:
    """Through the gateway's admin API (which records a run), or on each mock without it."""
    import httpx

    headers = {"Authorization": f"Bearer {settings.gateway.admin_token.get_secret_value()}"}
    if gateway:
        url = f"{settings.gateway.url}/admin/scenario"
        response = httpx.put(url, json={"name": name}, headers=headers, timeout=30.0)
        if response.status_code != 200:
            raise RuntimeError(f"scenario {name!r}: {response.text}")
        console.print(f"Scenario [bold]{name}[/bold] (run {response.json()['run_id']})")
        return
    from mock_services.scenarios import ScenarioError, find_scenario

    try:
        document = find_scenario(name, settings.scenarios_dir or _scenarios_dir()).model_dump(
            mode="json"
        )
    except ScenarioError as exc:
        raise RuntimeError(str(exc)) from None
    for mock in MOCK_NAMES:
        url = f"{settings.mocks.url(mock)}/_faults/scenario"
        response = httpx.put(url, json=document, headers=headers, timeout=30.0)
        if response.status_code != 200:
            raise RuntimeError(f"{mock} refused scenario {name!r}: {response.text}")
    console.print(f"Scenario [bold]{name}[/bold] on every mock")


def _scenarios_dir() -> Path:
    from mock_services.scenarios import SCENARIOS_DIR

    return SCENARIOS_DIR


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def _balancer(wanted: bool) -> str | None:
    """The nginx binary for --replicas, or None (said why) for a client-side spread."""
    from ndxp_sim.balancer import find_nginx

    found = find_nginx() if wanted else None
    if wanted and found is None:
        console.print(
            "[yellow]--replicas: nginx is not installed (apt-get install nginx); the instances "
            "take the gateway's port and the next ones: spread the load over them yourself "
            "(Locust: --host with their URLs, comma-separated)[/yellow]"
        )
    return found


def _print_welcome(settings: Settings, services: list[Service], *, gateway: bool) -> None:
    console.print("[bold green]ndxp-sim is up[/bold green]")
    for service in services:
        console.print(f"  {service.name:<18} {service.url}   (log: {service.log_path})")
    instances = [s.url for s in services if s.name.startswith("gateway-")]
    if instances:
        front = "nginx in front" if any(s.name == "nginx" for s in services) else "no balancer"
        console.print(
            f"\n{len(instances)} gateway instances ({front}); metrics per instance: "
            + ", ".join(f"{url}/metrics" for url in instances)
            + f"\nLocust over all of them: --host {','.join(instances)}",
            soft_wrap=True,
            highlight=False,
        )
    for service in services:
        if service.name == "live-view":
            console.print(
                f"\nTrainers' live view: [bold]{service.url}[/bold] (open it in a browser)"
            )
    from mock_services.population import sample_ids

    pid = sample_ids(settings.mocks.seed, "038")[0]
    if not gateway:
        console.print(f"\nTry: curl -s {settings.mocks.url('population')}/v1/citizens/{pid}")
        return
    from gateway.registry import sample_consumer

    consumer_id, secret = sample_consumer(settings)
    base = settings.gateway.url
    console.print(
        f"\nSample consumer (Thanh Hóa one-stop system): client_id={consumer_id} "
        f"client_secret={secret}\n\nCopy and paste:\n"
    )
    console.print(
        f"TOKEN=$(curl -s -X POST {base}/oauth2/token "
        f"-d grant_type=client_credentials -d client_id={consumer_id} -d client_secret={secret} "
        "| python3 -c 'import json,sys; print(json.load(sys.stdin)[\"access_token\"])')\n"
        f'curl -s -H "Authorization: Bearer $TOKEN" {base}/population/v1/citizens/{pid}\n',
        soft_wrap=True,
        highlight=False,
    )
    admin = (
        settings.gateway.admin_token.get_secret_value()
        if settings.mode == "dev"
        else "<NDXP_GATEWAY__ADMIN_TOKEN>"
    )
    console.print(
        f'Admin API: curl -s -H "Authorization: Bearer {admin}" {base}/admin/exchanges\n'
        f"Metrics: {base}/metrics   Gateway API docs: {base}/docs\n"
        "Ctrl-C stops everything.",
        soft_wrap=True,
        highlight=False,
    )


@app.command()
def demo(
    flow: Annotated[
        str,
        typer.Argument(
            help="licence-renewal, birth-registration, business-sync, household-verification "
            "or criminal-record-certificate."
        ),
    ],
    province: Annotated[
        str, typer.Option(help="Province name or code, with or without diacritics.")
    ] = "Thanh Hóa",
    scenario: Annotated[
        str | None, typer.Option(help="Switch every national database to this scenario first.")
    ] = None,
    step: Annotated[bool, typer.Option("--step", help="Wait for Enter between hops.")] = False,
    seed: Annotated[int | None, typer.Option(help="Replay the same citizens and dossiers.")] = None,
) -> None:
    """Narrate one provincial flow hop by hop: province → NDXP gateway → national database."""
    import asyncio
    import logging

    import structlog

    from ndxp_sim.demo import DemoError, run_demo

    # The narration tells every hop; the flows' own JSON log line would only repeat it.
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL))
    try:
        result = asyncio.run(
            run_demo(get_settings(), flow, province, scenario, step, console, input, seed=seed)
        )
    except DemoError as exc:  # unknown flow / province / scenario, or no stack to talk to
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    raise typer.Exit(0 if result.outcome != "failed" else 1)


@app.command("serve-mock")
def serve_mock(
    name: Annotated[str, typer.Argument(help=f"One of: {', '.join(MOCK_NAMES)}.")],
) -> None:
    """Run one mock national database in the foreground (what `up` and docker-compose start)."""
    import uvicorn

    from mock_services.apps import create_mock_app

    settings = get_settings()
    if name not in MOCK_NAMES:
        raise typer.BadParameter(f"unknown mock {name!r}; choose one of {', '.join(MOCK_NAMES)}")
    uvicorn.run(
        create_mock_app(name, settings),
        host=settings.mocks.host,
        port=settings.mocks.ports[name],
        log_level="warning",
    )


@app.command("serve-hop")
def serve_hop(
    name: Annotated[str, typer.Argument(help="lgsp (the provincial LGSP) or vdxp (PR-REST).")],
) -> None:
    """Run one route's hop in front of the gateway (`up` starts both; NDXP_LGSP__PORT...)."""
    import uvicorn

    from hops import create_lgsp_app, create_vdxp_app

    settings = get_settings()
    factories = {"lgsp": create_lgsp_app, "vdxp": create_vdxp_app}
    if name not in factories:
        raise typer.BadParameter(f"unknown hop {name!r}; choose lgsp or vdxp")
    own = settings.lgsp if name == "lgsp" else settings.vdxp
    uvicorn.run(factories[name](settings), host=own.host, port=own.port, log_level="warning")


@app.command("serve-live")
def serve_live() -> None:
    """Run the trainers' live view in the foreground (`up` starts it; NDXP_LIVE__PORT)."""
    from liveview.process import serve

    serve(get_settings())


@app.command("serve-gateway")
def serve_gateway() -> None:
    """Run the NDXP gateway in the foreground, with `NDXP_GATEWAY__WORKERS` uvicorn workers."""
    import uvicorn

    settings = get_settings()
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:  # prometheus_client's multiprocess mode needs the directory to exist
        Path(metrics_dir).mkdir(parents=True, exist_ok=True)
    from gateway.server import uvicorn_options

    uvicorn.run(
        "gateway.server:app_factory",
        factory=True,
        host=settings.gateway.host,
        port=settings.gateway.port,
        workers=settings.gateway.workers,
        **uvicorn_options(),
    )


@app.command()
def openapi(
    write: Annotated[
        bool, typer.Option("--write", help="Rewrite contracts/openapi/*.yaml from the code.")
    ] = False,
) -> None:
    """Check (default) or rewrite the published OpenAPI contracts under contracts/openapi/."""
    from ndxp_sim.published import stale_documents, write_published

    if write:
        for path in write_published():
            console.print(f"wrote {path}")
        return
    stale = stale_documents()
    if stale:
        console.print(
            f"[red]out of date:[/red] {', '.join(stale)} — run `ndxp-sim openapi --write`"
        )
        raise typer.Exit(1)
    console.print("contracts/openapi/ matches the code")


@app.command()
def samples(
    province: Annotated[
        str, typer.Option(help="Province code or name, e.g. 038, 'Thanh Hóa', thanh-hoa.")
    ] = "001",
    count: Annotated[int, typer.Option(min=1, max=50)] = 5,
) -> None:
    """Print existing personal ids of a province, to make a first call without reading code."""
    from contracts.provinces import find_province
    from mock_services.population import citizen_record, sample_ids

    found = find_province(province)
    if found is None:
        console.print(f"[red]no province matches {province!r}[/red]")
        raise typer.Exit(2)
    seed = get_settings().mocks.seed
    for pid in sample_ids(seed, found.code, count):
        record = citizen_record(seed, pid)
        console.print(f"{pid}  {record.full_name}  {record.date_of_birth}  ({found.full_name})")
