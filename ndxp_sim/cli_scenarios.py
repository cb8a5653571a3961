"""``ndxp-sim scenario …`` and ``ndxp-sim report``: the failure scenarios of a running stack.

Both talk to the gateway's admin API (``NDXP_GATEWAY__*`` settings give its URL and admin
token; ``--gateway`` points elsewhere, e.g. a docker-compose stack), so they work the same
against ``ndxp-sim up`` and a container.
"""

from __future__ import annotations

import json
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console
from rich.table import Table

from ndxp_config.settings import get_settings

scenario_app = typer.Typer(
    help="List, show, switch and clear the failure scenarios of a running stack.",
    no_args_is_help=True,
)
console = Console()
GatewayOpt = Annotated[
    str | None,
    typer.Option("--gateway", help="Gateway base URL; default: from the settings."),
]


class Format(StrEnum):
    table = "table"
    md = "md"
    json = "json"


def _admin(gateway: str | None) -> httpx.Client:
    settings = get_settings()
    token = settings.gateway.admin_token.get_secret_value()
    return httpx.Client(
        base_url=gateway or settings.gateway.url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30.0,
    )


def admin_call(
    method: str, path: str, *, gateway: str | None = None, body: dict[str, Any] | None = None
) -> Any:
    """One admin API call; a refusal or an unreachable gateway ends the command with its reason."""
    with _admin(gateway) as client:
        try:
            response = client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            console.print(
                f"[red]cannot reach the gateway at {client.base_url}:[/red] {exc}\n"
                "Is the stack running (`ndxp-sim up`)?"
            )
            raise typer.Exit(1) from None
    if response.status_code >= 400:
        try:
            problem = response.json()
            reason = f"{problem.get('code')}: {problem.get('detail')}"
        except ValueError:
            reason = response.text
        console.print(f"[red]{method} {path} failed ({response.status_code})[/red] {reason}")
        raise typer.Exit(1)
    return response.json()


@scenario_app.command("list")
def list_scenarios(gateway: GatewayOpt = None) -> None:
    """The scenario catalogue, with the failure modes each reproduces."""
    table = Table("id", "failure modes", "rules", "title")
    for item in admin_call("GET", "/admin/scenarios", gateway=gateway):
        table.add_row(
            item["id"], ", ".join(item["failure_modes"]), str(item["rules"]), item["title"]
        )
    console.print(table)


@scenario_app.command("show")
def show_scenario(
    name: Annotated[str, typer.Argument(help="Scenario id, e.g. reported-2024.")],
    gateway: GatewayOpt = None,
) -> None:
    """One scenario in full (rules, probabilities, sources), as JSON."""
    print(json.dumps(admin_call("GET", f"/admin/scenarios/{name}", gateway=gateway), indent=2,
                     ensure_ascii=False))  # fmt: skip


@scenario_app.command("set")
def set_scenario(
    name: Annotated[str, typer.Argument(help="Scenario id, e.g. fm-01 or reported-2024.")],
    seed: Annotated[int | None, typer.Option(help="Override the file's seed.")] = None,
    at: Annotated[
        datetime | None,
        typer.Option(
            help="Start the mocks' fault clock at this local time, e.g. 2024-06-04T09:00 "
            "(Asia/Ho_Chi_Minh unless an offset is given).",
            formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M:%S%z"],
        ),
    ] = None,
    gateway: GatewayOpt = None,
) -> None:
    """Switch every mock national database to NAME at once, and start a run."""
    body: dict[str, Any] = {"name": name, "seed": seed, "at": _local(at)}
    run = admin_call("PUT", "/admin/scenario", gateway=gateway, body=body)
    _print_run(run)


@scenario_app.command("clear")
def clear_scenario(gateway: GatewayOpt = None) -> None:
    """Back to baseline (healthy) on every mock; starts a baseline run."""
    _print_run(admin_call("DELETE", "/admin/scenario", gateway=gateway))


@scenario_app.command("status")
def scenario_status(gateway: GatewayOpt = None) -> None:
    """The current run and, per mock, the scenario, fault clock and faults injected per rule."""
    status = admin_call("GET", "/admin/scenario", gateway=gateway)
    if status["run"]:
        _print_run(status["run"])
    table = Table("provider", "scenario", "clock", "faults injected")
    for provider, state in status["providers"].items():
        injected = ", ".join(f"{r['id']} {r['injected']}" for r in state["rules"]) or "—"
        table.add_row(
            provider, state["scenario"] or state["detail"], state["clock"] or "", injected
        )
    console.print(table)


@scenario_app.command("clock")
def set_clock(
    at: Annotated[
        str, typer.Argument(help="Local date-time, e.g. 2024-06-04T09:00, or 'now' for real time.")
    ],
    gateway: GatewayOpt = None,
) -> None:
    """Shift the mocks' fault clock (maintenance windows, time-of-day rules) within the run."""
    when = None if at == "now" else _local(datetime.fromisoformat(at))
    states = admin_call("PUT", "/admin/clock", gateway=gateway, body={"at": when})
    for provider, state in states.items():
        console.print(f"{provider:<18} clock {state['clock']}")


def _aware(at: datetime) -> datetime:
    """A naive time is local time in Việt Nam (Asia/Ho_Chi_Minh)."""
    from mock_services.dossiers import VIETNAM_TZ

    return at if at.tzinfo is not None else at.replace(tzinfo=VIETNAM_TZ)


def _local(at: datetime | None) -> str | None:
    return None if at is None else _aware(at).isoformat()


def _print_run(run: dict[str, Any]) -> None:
    modes = ", ".join(run["failure_modes"]) or "none"
    clock = f", fault clock from {run['clock_at']}" if run.get("clock_at") else ""
    console.print(
        f"[bold]{run['scenario']}[/bold] — {run['title']}\n"
        f"run {run['run_id']} since {run['started_at']} (seed {run['seed']}{clock}); "
        f"failure modes: {modes}"
    )


def report_command(
    run: Annotated[
        str, typer.Option(help="Run id, or 'latest'; `ndxp-sim scenario runs` lists them.")
    ] = "latest",
    since: Annotated[
        datetime | None, typer.Option(help="Time range instead of a run (local time).")
    ] = None,
    until: Annotated[datetime | None, typer.Option(help="End of the time range.")] = None,
    fmt: Annotated[Format, typer.Option("--format", help="table, md or json.")] = Format.table,
    exchanges: Annotated[
        Path | None,
        typer.Option(help="Read an exported JSONL file instead of a running gateway."),
    ] = None,
    gateway: GatewayOpt = None,
) -> None:
    """What a run observed — per failure mode and per province × provider — next to the
    report rows it reproduces."""
    from ndxp_sim.report_output import (
        ReportSourceError,
        load_provinces,
        render,
        report_from_file,
        report_from_gateway,
    )

    if exchanges is not None:
        try:
            report = report_from_file(exchanges, load_provinces(None))
        except ReportSourceError as exc:
            console.print(f"[red]no report:[/red] {exc}")
            raise typer.Exit(1) from None
    else:
        settings = get_settings()
        ranged = since is not None or until is not None
        since_at = _aware(since) if since else None
        until_at = _aware(until) if until else None
        try:
            report = report_from_gateway(
                gateway or settings.gateway.url,
                settings.gateway.admin_token.get_secret_value(),
                hops={"lgsp": settings.lgsp.url, "vdxp": settings.vdxp.url},
                run_id=None if ranged else run,
                since=since_at,
                until=until_at,
            )
        except ReportSourceError as exc:
            console.print(f"[red]no report:[/red] {exc}")
            raise typer.Exit(1) from None
    render(report, fmt.value, console)


@scenario_app.command("runs")
def list_runs(gateway: GatewayOpt = None) -> None:
    """Runs (one per scenario switch), newest first: the ids `ndxp-sim report --run` takes."""
    table = Table("run id", "scenario", "started", "ended")
    for item in admin_call("GET", "/admin/runs", gateway=gateway)["items"]:
        table.add_row(item["run_id"], item["scenario"], item["started_at"], item["ended_at"] or "—")
    console.print(table)
