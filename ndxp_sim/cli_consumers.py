"""``ndxp-sim kit`` and ``ndxp-sim consumers …``: connection kits and onboarding at runtime.

Both talk to the gateway's admin API, like ``ndxp-sim scenario`` (``--gateway`` points
elsewhere; the admin token comes from the settings): the gateway holds the consumers and
their credentials, so the kit it builds is the truth — the CLI only unpacks it.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console

from mock_services.provinces import find_province
from ndxp_sim.cli_scenarios import GatewayOpt, _admin

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
