"""``ndxp-sim kit`` and ``ndxp-sim consumers …``: connection kits and onboarding at runtime.

Both talk to the gateway's admin API, like ``ndxp-sim scenario`` (``--gateway`` points
elsewhere; the admin token comes from the settings): the gateway holds the consumers and
their credentials, so the kit it builds is the truth — the CLI only unpacks it.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Annotated, Any

import httpx
import typer
from rich.console import Console

from contracts.consumers import OUTSIDE_OFFICE_HOURS
from contracts.provinces import find_province
from ndxp_sim.cli_scenarios import GatewayOpt, _admin, admin_call

console = Console()


def consumer_id_for(name: str) -> str:
    """A consumer id from a province (name, slug or code) or a consumer id as it is."""
    province = find_province(name)
    return f"onestop-{province.slug}" if province is not None else name


def kit_command(
    province: Annotated[
        str,
        typer.Argument(
            help='Province ("Thanh Hóa", thanh-hoa, 038) or a consumer id (onestop-thanh-hoa).'
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option("--out", help="Directory to unpack into; default: ./ndxp-kit-<consumer>."),
    ] = None,
    gateway: GatewayOpt = None,
) -> None:
    """Fetch a consumer's connection kit from the gateway and unpack it (FM-07)."""
    consumer = consumer_id_for(province)
    with _admin(gateway) as client:
        try:
            response = client.get(f"/admin/consumers/{consumer}/kit")
        except httpx.HTTPError as exc:
            console.print(
                f"[red]cannot reach the gateway at {client.base_url}:[/red] {exc}\n"
                "Is the stack running (`ndxp-sim up`)?"
            )
            raise typer.Exit(1) from None
    if response.status_code != 200:
        try:
            problem = response.json()
            reason = f"{problem.get('code')}: {problem.get('detail')}"
        except ValueError:
            reason = response.text
        console.print(f"[red]no kit for {consumer} ({response.status_code})[/red] {reason}")
        raise typer.Exit(1)
    target = out or Path(f"ndxp-kit-{consumer}")
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        for member in archive.infolist():
            relative = Path(*Path(member.filename).parts[1:])  # drop the zip's root folder
            if member.is_dir() or ".." in relative.parts:
                continue
            path = target / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(archive.read(member))
            path.chmod(0o600)  # the kit holds a client secret
    console.print(f"wrote the connection kit of {consumer} to {target}/ (start with README.md)")


consumers_app = typer.Typer(
    help="Onboard consumers at runtime: register, approve, rotate, suspend, revoke.",
    no_args_is_help=True,
)


def _show(record: dict[str, Any]) -> None:
    window = record.get("sandbox_window")
    console.print(
        f"{record['id']}  [bold]{record['status']}[/bold]  province={record['province']}  "
        f"subscriptions={','.join(record['subscriptions']) or '-'}"
        + (f"  sandbox: {window['description']}" if window else "")
    )


def _credentials(answer: dict[str, Any]) -> None:
    _show(answer["consumer"])
    console.print(f"client_id={answer['client_id']}\nclient_secret={answer['client_secret']}")


@consumers_app.command("list")
def list_consumers(gateway: GatewayOpt = None) -> None:
    """Every consumer the gateway knows, with its status."""
    for record in admin_call("GET", "/admin/consumers", gateway=gateway)["items"]:
        _show(record)


@consumers_app.command("show")
def show_consumer(consumer: str, gateway: GatewayOpt = None) -> None:
    """One consumer (no secret)."""
    _show(admin_call("GET", f"/admin/consumers/{consumer_id_for(consumer)}", gateway=gateway))


@consumers_app.command("register")
def register_consumer(
    consumer: Annotated[str, typer.Argument(help="New consumer id, e.g. lgsp-thanh-hoa.")],
    name: Annotated[str, typer.Option(help="Display name.")],
    province: Annotated[str | None, typer.Option(help="Province code, e.g. 038.")] = None,
    subscribe: Annotated[
        list[str] | None, typer.Option(help="A service or provider.* (repeat the option).")
    ] = None,
    outside_office_hours: Annotated[
        bool, typer.Option(help="Allow calls only outside office hours (sandbox window).")
    ] = False,
    gateway: GatewayOpt = None,
) -> None:
    """Register a consumer: pending, without credentials until approved."""
    body: dict[str, Any] = {
        "id": consumer,
        "name": name,
        "province": province,
        "subscriptions": subscribe or [],
    }
    if outside_office_hours:
        body["sandbox_window"] = OUTSIDE_OFFICE_HOURS.model_dump(mode="json")
    _show(admin_call("POST", "/admin/consumers", gateway=gateway, body=body))


@consumers_app.command("approve")
def approve_consumer(consumer: str, gateway: GatewayOpt = None) -> None:
    """Approve a pending consumer: prints its client secret (then `ndxp-sim kit`)."""
    path = f"/admin/consumers/{consumer_id_for(consumer)}/approve"
    _credentials(admin_call("POST", path, gateway=gateway))


@consumers_app.command("rotate")
def rotate_secret(
    consumer: str,
    grace: Annotated[int, typer.Option(help="Seconds the old secret stays valid.")] = 3600,
    gateway: GatewayOpt = None,
) -> None:
    """Issue a new client secret; the old one stays valid for --grace seconds."""
    path = f"/admin/consumers/{consumer_id_for(consumer)}/rotate-secret"
    _credentials(admin_call("POST", path, gateway=gateway, body={"grace_s": grace}))


def _status_command(action: str, doc: str) -> None:
    def command(consumer: str, gateway: GatewayOpt = None) -> None:
        path = f"/admin/consumers/{consumer_id_for(consumer)}/{action}"
        _show(admin_call("POST", path, gateway=gateway))

    command.__doc__ = doc
    consumers_app.command(action)(command)


_status_command("suspend", "Suspend: its calls are refused with 401 consumer_suspended.")
_status_command("reactivate", "Lift a suspension.")
_status_command("revoke", "Revoke for good: 401 consumer_revoked.")


@consumers_app.command("subscribe")
def set_subscriptions(
    consumer: str,
    services: Annotated[list[str], typer.Argument(help="The full new list, e.g. population.*")],
    gateway: GatewayOpt = None,
) -> None:
    """Replace a consumer's subscriptions (applies to its next call)."""
    path = f"/admin/consumers/{consumer_id_for(consumer)}/subscriptions"
    _show(admin_call("PUT", path, gateway=gateway, body={"subscriptions": services}))


@consumers_app.command("sandbox")
def set_sandbox(
    consumer: str,
    outside_office_hours: Annotated[
        bool,
        typer.Option(
            "--outside-office-hours/--any-time",
            help="Calls only outside office hours, or at any time.",
        ),
    ],
    gateway: GatewayOpt = None,
) -> None:
    """Set or lift a consumer's sandbox window (outside it: 403 sandbox_window_closed)."""
    window = OUTSIDE_OFFICE_HOURS.model_dump(mode="json") if outside_office_hours else None
    path = f"/admin/consumers/{consumer_id_for(consumer)}/sandbox-window"
    _show(admin_call("PUT", path, gateway=gateway, body={"sandbox_window": window}))
