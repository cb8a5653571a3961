"""``ndxp-sim contracts diff OLD NEW`` and ``ndxp-sim contracts rules``: what changed between two
OpenAPI documents, and whether it breaks a client (FM-08). The rules live in
:mod:`ndxp_sim.contract_diff`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.table import Table

from ndxp_sim.contract_diff import RULES, ContractReadError, diff_documents, load_document

contracts_app = typer.Typer(
    help="Published contracts: compare two versions (breaking / non-breaking).",
    no_args_is_help=True,
)
console = Console()
EXIT_BREAKING = 1
EXIT_UNREADABLE = 2

DocArg = Annotated[Path, typer.Argument(help="An OpenAPI document (YAML or JSON).")]


@contracts_app.command("diff")
def diff_command(
    old: DocArg,
    new: DocArg,
    as_json: Annotated[bool, typer.Option("--json", help="Print the changes as JSON.")] = False,
    fail_on: Annotated[
        Literal["breaking", "none"],
        typer.Option(help="Exit 1 when a change of this class exists (none: always exit 0)."),
    ] = "breaking",
    keep_version: Annotated[
        bool,
        typer.Option(
            "--keep-version",
            help="Pair operations on their full path; by default a leading /v1, /v2 is ignored "
            "so that a version compares with its successor.",
        ),
    ] = False,
) -> None:
    """Classify every change from OLD to NEW as breaking or non-breaking (rules: `contracts
    rules`). Exit 1 if a breaking change exists (like oasdiff's `breaking --fail-on`), 2 if a
    document cannot be read."""
    try:
        changes = diff_documents(
            load_document(old), load_document(new), strip_version=not keep_version
        )
    except ContractReadError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(EXIT_UNREADABLE) from None
    breaking = sum(c.severity == "breaking" for c in changes)
    if as_json:
        summary = {"breaking": breaking, "non_breaking": len(changes) - breaking}
        payload = {"old": str(old), "new": str(new), **summary}
        typer.echo(
            json.dumps(
                {**payload, "changes": [c.as_dict() for c in changes]}, indent=2, ensure_ascii=False
            )
        )
    else:
        table = Table(title=f"{old} → {new}")
        for column in ("class", "operation", "where", "change", "rule"):
            table.add_column(column, overflow="fold")
        for c in changes:
            style = "red" if c.severity == "breaking" else "green"
            shown = f"[{style}]{c.severity}[/{style}]"
            table.add_row(shown, c.operation, c.where, c.detail, c.rule)
        console.print(table)
        console.print(f"{breaking} breaking, {len(changes) - breaking} non-breaking")
    if fail_on == "breaking" and breaking:
        raise typer.Exit(EXIT_BREAKING)


@contracts_app.command("rules")
def rules_command() -> None:
    """The rule table: every kind of change and whether it breaks a client."""
    table = Table(title="contract change rules")
    for column in ("rule", "class", "change", "why"):
        table.add_column(column, overflow="fold")
    for rule in RULES:
        table.add_row(rule.id, rule.severity, rule.change, rule.why)
    console.print(table)
