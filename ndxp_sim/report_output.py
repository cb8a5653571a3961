"""Where a report's records come from (the gateway's admin API, or an exported JSONL file) and
how it is printed (``--format table|md|json``)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

import httpx
from rich.console import Console
from rich.table import Table

from contracts.exchange import ExchangeRecord
from contracts.gateway import RegistryView, Run
from contracts.hops import HopRecord
from ndxp_sim.report import Report, build_report

_TIMEOUT_S = 60.0


class ReportSourceError(RuntimeError):
    """The records could not be read; the message says from where and why."""


def report_from_gateway(
    gateway_url: str,
    admin_token: str,
    *,
    run_id: str | None = "latest",
    since: datetime | None = None,
    until: datetime | None = None,
    hops: Mapping[str, str] | None = None,
) -> Report:
    """Read a run (or a time range) and its exchanges from a running gateway's admin API.

    ``hops`` (name → URL: the LGSP, VDXP) are read too, for where each failure arose; a hop
    that does not answer is left out (a stack without it), and the report says which were read.
    """
    headers = {"Authorization": f"Bearer {admin_token}"}
    with httpx.Client(base_url=gateway_url, headers=headers, timeout=_TIMEOUT_S) as client:
        run = None
        if run_id is not None and since is None and until is None:
            run = Run.model_validate(_get_json(client, f"/admin/runs/{run_id}"))
            since, until = run.started_at, run.ended_at or datetime.now(UTC)
        registry = RegistryView.model_validate(_get_json(client, "/admin/registry"))
        params = {"format": "jsonl"}
        if since is not None:
            params["since"] = since.isoformat()
        if until is not None:
            params["until"] = until.isoformat()
        records = list(_exported(client, params))
    provinces = {c.id: c.province for c in registry.consumers}
    hop_records = {
        name: logged
        for name, url in (hops or {}).items()
        if (logged := _hop_log(url, headers, since, until)) is not None
    }
    return build_report(
        records, provinces=provinces, run=run, since=since, until=until, hop_records=hop_records
    )


def _hop_log(
    url: str, headers: dict[str, str], since: datetime | None, until: datetime | None
) -> list[HopRecord] | None:
    """A hop's records in the range, or None when the hop does not answer."""
    params = {k: v.isoformat() for k, v in (("since", since), ("until", until)) if v is not None}
    try:
        response = httpx.get(f"{url}/_hop/exchanges", params=params, headers=headers,
                             timeout=_TIMEOUT_S)  # fmt: skip
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        raise ReportSourceError(f"{url}/_hop/exchanges answered {response.status_code}")
    return [HopRecord.model_validate(item) for item in response.json()]


def report_from_file(path: Path, provinces: dict[str, str | None]) -> Report:
    """A report of an exported JSONL file (``GET /admin/exchanges/export``), no run.

    Raises:
        ReportSourceError: the file cannot be read, or a line is not an exchange record in
            JSON (a CSV export, say); the message names the file and the line.
    """
    records = []
    try:
        with path.open(encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(ExchangeRecord.model_validate_json(line))
                except ValueError:
                    raise ReportSourceError(
                        f"{path}, line {number}: not an exchange record in JSON — export with "
                        "`/admin/exchanges/export?format=jsonl` (CSV cannot be read back)"
                    ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportSourceError(f"cannot read {path}: {exc}") from None
    return build_report(records, provinces=provinces)


def _get_json(client: httpx.Client, path: str) -> object:
    try:
        response = client.get(path)
    except httpx.HTTPError as exc:
        raise ReportSourceError(f"cannot reach the gateway at {client.base_url}: {exc}") from None
    if response.status_code != 200:
        raise ReportSourceError(f"GET {path} answered {response.status_code}: {response.text}")
    return response.json()


def _exported(client: httpx.Client, params: dict[str, str]) -> Iterator[ExchangeRecord]:
    try:
        with client.stream("GET", "/admin/exchanges/export", params=params) as response:
            if response.status_code != 200:
                response.read()
                raise ReportSourceError(
                    f"exchange export answered {response.status_code}: {response.text}"
                )
            for line in response.iter_lines():
                if line.strip():
                    yield ExchangeRecord.model_validate_json(line)
    except httpx.HTTPError as exc:
        raise ReportSourceError(f"reading the exchange export failed: {exc}") from None


def render_json(report: Report) -> str:
    return report.model_dump_json(indent=2)


def _heading(report: Report) -> str:
    scope = f"run {report.run_id} (scenario {report.scenario})" if report.run_id else "exchanges"
    since = report.since.isoformat(timespec="seconds") if report.since else "the beginning"
    until = report.until.isoformat(timespec="seconds") if report.until else "now"
    return f"Report of {scope}, {since} → {until}: {report.exchanges} exchanges"


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "—"


def _pct(rate: float) -> str:
    return f"{rate * 100:.1f} %"


_MODE_HEAD = ("FM", "failure mode", "exchanges", "failures", "timeouts", "p95 ms", "fields")
_RULE_HEAD = ("rule", "FM", "kind", "exchanges", "inferred", "failures", "fields", "provinces")
_CELL_HEAD = ("province", "provider", "requests", "ok", "failures", "timeouts", "p95 ms", "FM")
_REPRODUCES = "reproduces (rules that fired)"
_NOT_REPRODUCED = "named by the reports, not reproduced"


def _mode_cells(report: Report) -> list[list[str]]:
    return [
        [
            row.failure_mode,
            row.title,
            str(row.exchanges),
            _counts(row.failures),
            _pct(row.timeout_rate),
            f"{row.p95_ms:.0f}",
            _counts(row.violated_fields),
        ]
        for row in report.failure_modes
    ]


def _rule_cells(report: Report) -> list[list[str]]:
    return [
        [
            row.rule_id,
            row.failure_mode,
            row.kind or "—",
            str(row.exchanges),
            str(row.inferred),
            _counts(row.failures),
            _counts(row.violated_fields),
            ", ".join(row.provinces),
        ]
        for row in report.rules
    ]


def _cell_cells(report: Report) -> list[list[str]]:
    return [
        [
            f"{row.province} {row.province_name}",
            row.provider,
            str(row.requests),
            str(row.ok),
            _counts(row.failures),
            _pct(row.timeout_rate),
            f"{row.p95_ms:.0f}",
            ", ".join(row.failure_modes) or "—",
        ]
        for row in report.cells
    ]


def render_markdown(report: Report) -> str:
    """GitHub-flavoured Markdown: failure modes with the rows their rules reproduced and the
    rows they did not, the rules, and the province × provider grid."""

    def table(head: tuple[str, ...], rows: list[list[str]]) -> list[str]:
        escape = [[cell.replace("|", "\\|") for cell in row] for row in rows]
        return [
            "| " + " | ".join(head) + " |",
            "|" + "---|" * len(head),
            *("| " + " | ".join(row) + " |" for row in escape),
        ]

    lines = [f"# {_heading(report)}", "", "## Failure modes", ""]
    if report.failure_modes:
        lines += table((*_MODE_HEAD, _REPRODUCES, _NOT_REPRODUCED), [
            [*cells, "; ".join(row.citations) or "—", row.not_reproduced or "—"]
            for cells, row in zip(_mode_cells(report), report.failure_modes, strict=True)
        ])  # fmt: skip
    else:
        lines.append("No failure mode observed.")
    if report.rules:
        lines += ["", "## Rules", ""]
        lines += table((*_RULE_HEAD, "cites"), [
            [*cells, "; ".join(row.citations) or "—"]
            for cells, row in zip(_rule_cells(report), report.rules, strict=True)
        ])  # fmt: skip
    lines += ["", "## Province × provider", ""]
    lines += table(_CELL_HEAD, _cell_cells(report)) if report.cells else ["No exchanges."]
    if report.origins:
        lines += ["", "## Where the failures arose", "", _hop_logs(report), ""]
        lines += table(_ORIGIN_HEAD, _origin_cells(report))
    return "\n".join(lines) + "\n"


def render_table(report: Report, console: Console) -> None:
    """Rich tables for a terminal; citations under each failure mode and rule."""
    console.print(f"[bold]{_heading(report)}[/bold]")
    if not report.failure_modes:
        console.print("No failure mode observed.")
    else:
        modes = Table(title="Failure modes", show_lines=True)
        for name in (*_MODE_HEAD, _REPRODUCES, _NOT_REPRODUCED):
            modes.add_column(name, overflow="fold")
        for cells, row in zip(_mode_cells(report), report.failure_modes, strict=True):
            modes.add_row(*cells, "\n".join(row.citations) or "—", row.not_reproduced or "—")
        console.print(modes)
    if report.rules:
        rules = Table(title="Rules", show_lines=True)
        for name in (*_RULE_HEAD, "cites"):
            rules.add_column(name, overflow="fold")
        for cells, rule in zip(_rule_cells(report), report.rules, strict=True):
            rules.add_row(*cells, "\n".join(rule.citations) or "—")
        console.print(rules)
    if report.cells:
        grid = Table(title="Province × provider")
        for name in _CELL_HEAD:
            grid.add_column(name, overflow="fold")
        for cells in _cell_cells(report):
            grid.add_row(*cells)
        console.print(grid)
    if report.origins:
        origins = Table(title="Where the failures arose", caption=_hop_logs(report))
        for name in _ORIGIN_HEAD:
            origins.add_column(name, overflow="fold")
        for cells in _origin_cells(report):
            origins.add_row(*cells)
        console.print(origins)


_ORIGIN_HEAD = ("hop", "system", "failures", "routes", "rules", "provinces", "trace ids")


def _hop_logs(report: Report) -> str:
    read = ", ".join(f"{hop} {count}" for hop, count in report.hop_logs.items())
    return f"By trace id across the gateway's log and the hops' ({read or 'none read'})."


def _origin_cells(report: Report) -> list[list[str]]:
    return [
        [
            row.hop,
            row.system,
            _counts(row.failures),
            _counts(row.routes),
            _counts(row.rules),
            ", ".join(row.provinces),
            ", ".join(row.trace_ids),
        ]
        for row in report.origins
    ]


def render(report: Report, fmt: str, console: Console) -> None:
    if fmt == "json":
        print(render_json(report))
    elif fmt == "md":
        print(render_markdown(report), end="")
    else:
        render_table(report, console)


def load_provinces(path: Path | None) -> dict[str, str | None]:
    """consumer id → province, from a registry view JSON file, or the default registry."""
    if path is not None:
        view = RegistryView.model_validate(json.loads(path.read_text(encoding="utf-8")))
        return {c.id: c.province for c in view.consumers}
    from gateway.registry import default_registry

    return {c.id: c.province for c in default_registry().consumers}
