"""``ndxp-sim`` — run the simulated NDXP stack and work with its contracts.

Every command has ``--help``. Settings come from ``NDXP_*`` environment variables (see
:mod:`ndxp_config.settings`), read once when a command starts.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from ndxp_config.settings import MOCK_NAMES, Settings, get_settings
from ndxp_sim.cli_consumers import kit_command
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
) -> None:
    """Start the four mock national databases and the NDXP gateway; Ctrl-C stops them all."""
    from ndxp_sim import supervisor

    settings = get_settings()
    services = supervisor.plan(settings, gateway=gateway)
    if gateway:
        supervisor.reset_metrics_dir(settings)
    try:
        supervisor.start_all(services, timeout)
    except supervisor.StartupError as exc:
        console.print(f"[red]ndxp-sim up failed:[/red] {exc}")
        raise typer.Exit(1) from None
    if scenario is not None:
        try:
            _start_scenario(settings, scenario, gateway=gateway)
        except RuntimeError as exc:
            supervisor.stop(services)
            console.print(f"[red]ndxp-sim up failed:[/red] {exc}")
            raise typer.Exit(1) from None
    if traffic or traffic_rate is not None:
        if not gateway:
            supervisor.stop(services)
            console.print("[red]ndxp-sim up failed:[/red] --traffic needs the gateway")
            raise typer.Exit(1)
        from connectors.provinces import DEFAULT_RATE
        from connectors.traffic import traffic_service

        rate = traffic_rate or DEFAULT_RATE
        runner = traffic_service(settings, rate)  # no /healthz: started once the stack is up
        runner.start()
        services.append(runner)
        console.print(f"Traffic: {rate:g} flows/s from the 63 one-stop systems ({runner.log_path})")
    if observe and gateway:
        from ndxp_sim import observe as observability

        try:
            services.append(observability.start_prometheus(settings, timeout_s=timeout))
        except observability.ObserveError as exc:
            console.print(f"[yellow]--observe: {exc}; the stack runs without it[/yellow]")
    _print_welcome(settings, services, gateway=gateway)
    # SIGTERM (docker stop, systemd, kill) and SIGINT (Ctrl-C) both stop the stack cleanly; a
    # shell that started us in the background may have left SIGINT ignored, so set it too.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    dead: list[str] = []
    try:
        while not dead:  # poll: a child that dies on its own stops the whole stack
            time.sleep(0.5)
            dead = [s.name for s in services if s.process is None or s.process.poll() is not None]
    except KeyboardInterrupt:
        console.print("\nStopping…")
    finally:
        supervisor.stop(services)
    if dead:
        console.print(f"[red]stopped because {', '.join(dead)} exited; see its log[/red]")
        raise typer.Exit(1)
    console.print("All services stopped.")


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


def _print_welcome(settings: Settings, services: list[Service], *, gateway: bool) -> None:
    console.print("[bold green]ndxp-sim is up[/bold green]")
    for service in services:
        console.print(f"  {service.name:<18} {service.url}   (log: {service.log_path})")
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
            help="licence-renewal, birth-registration, business-sync or household-verification."
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


@app.command("serve-gateway")
def serve_gateway() -> None:
    """Run the NDXP gateway in the foreground, with `NDXP_GATEWAY__WORKERS` uvicorn workers."""
    import uvicorn

    settings = get_settings()
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:  # prometheus_client's multiprocess mode needs the directory to exist
        Path(metrics_dir).mkdir(parents=True, exist_ok=True)
    uvicorn.run(
        "gateway.server:app_factory",
        factory=True,
        host=settings.gateway.host,
        port=settings.gateway.port,
        workers=settings.gateway.workers,
        log_level="warning",
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
    from mock_services.population import citizen_record, sample_ids
    from mock_services.provinces import find_province

    found = find_province(province)
    if found is None:
        console.print(f"[red]no province matches {province!r}[/red]")
        raise typer.Exit(2)
    seed = get_settings().mocks.seed
    for pid in sample_ids(seed, found.code, count):
        record = citizen_record(seed, pid)
        console.print(f"{pid}  {record.full_name}  {record.date_of_birth}  ({found.full_name})")
