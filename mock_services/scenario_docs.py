"""The README's scenario catalogue and fault-kind reference, generated from the scenario files
and the fault-kind classes, so the numbers a reader sees are the numbers that run.

``python -m mock_services.scenario_docs --write`` rewrites the blocks between the markers in
``README.md``; without ``--write`` it exits 1 and names the blocks that differ (a test does the
same). Each block sits between ``<!-- BEGIN generated: NAME -->`` and
``<!-- END generated: NAME -->``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path

from mock_services.failure_modes import FAILURE_MODES, cited_rows, format_rows
from mock_services.fault_gateway import GATEWAY_KINDS
from mock_services.fault_kinds import KIND_CLASSES, FaultKind, parameters
from mock_services.fault_specs import HOP_KINDS, Match, Rule
from mock_services.scenarios import Scenario, load_catalogue

README = Path(__file__).resolve().parents[1] / "README.md"
COMMAND = "python -m mock_services.scenario_docs --write"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _rows(sources: tuple[str, ...]) -> str:
    rows = format_rows(cited_rows(sources)).removeprefix("003 Phụ lục V ")
    others = sorted({s.split()[0].rstrip(":") for s in sources if re.match(r"^00\d:L", s)})
    return ", ".join(filter(None, [rows, *others])) or "—"


def _where(match: Match) -> str:
    parts = [f"`{match.provider}`"]
    if match.hop != "database":
        parts[0] += f" at the {match.hop} hop"
    if match.operations:
        parts.append(", ".join(match.operations))
    if match.provinces:
        parts.append("provinces " + ", ".join(match.provinces))
    if match.consumers:
        parts.append("consumers " + ", ".join(match.consumers))
    if match.during:
        parts.append("during " + "; ".join(w.describe() for w in match.during))
    return " · ".join(parts)


def _how_often(rule: Rule) -> str:
    fault = rule.fault
    if not fault.drawn or rule.probability == 1.0:
        return ""
    per = "of the records (per id)" if fault.keyed else "of the requests"
    return f"{rule.probability * 100:g} % {per}: "


def rule_line(rule: Rule) -> str:
    """One rule, as a README bullet."""
    return (
        f"- `{rule.id}` ({rule.failure_mode or rule.fault.failure_mode}, `{rule.fault.kind}`) — "
        f"{_where(rule.match)} — {_how_often(rule)}{rule.fault.summary()} — cites "
        f"{_rows(rule.source)}"
    )


def catalogue_block(catalogue: Mapping[str, Scenario]) -> str:
    """The table of scenarios and, for each, its rules with their numbers and citations."""
    lines = [
        "| scenario | failure modes | rules | rows its rules reproduce |",
        "|---|---|---|---|",
    ]
    for scenario in catalogue.values():
        sources = tuple(s for rule in scenario.rules for s in rule.source)
        lines.append(
            f"| `{scenario.id}` | {', '.join(scenario.failure_modes) or '—'} | "
            f"{len(scenario.rules)} | {_rows(sources)} |"
        )
    for scenario in catalogue.values():
        if not scenario.rules:
            continue
        lines += ["", f"<details><summary><code>{scenario.id}</code> — {scenario.title}</summary>"]
        lines += ["", *(rule_line(rule) for rule in scenario.rules), "", "</details>"]
    return "\n".join(lines)


def kinds_block() -> str:
    """The reference of every fault kind: phase, default failure mode, parameters, what the
    province sees; then how rules match and stack."""
    lines = [
        "| kind | phase | FM | parameters (default) | what the province sees |",
        "|---|---|---|---|---|",
    ]
    for kind, cls in KIND_CLASSES.items():
        params = "; ".join(
            f"`{name}` ({default})" + (f": {why}" if why else "")
            for name, default, why in parameters(cls)
        )
        lines.append(
            f"| `{kind}` | {_phase(cls)} | {cls.failure_mode} | {_cell(params) or '—'} | "
            f"{_cell(cls.sees)} |"
        )
    provinces = Match.model_fields["provinces"].description
    during = Match.model_fields["during"].description
    keyed = ", ".join(f"`{k}`" for k, c in KIND_CLASSES.items() if c.keyed)
    modes = ", ".join(FAILURE_MODES)
    lines += [
        "",
        f"- `match.provinces`: {provinces} The gateway sends the caller's province (its "
        "registry entry), so a rule limited to `044` fires only for Quảng Bình's one-stop "
        "system, whatever the data asked about.",
        "- Rules stack: every matching rule draws on its own (its `probability`, from its own "
        f"seeded generator); {keyed} draw once per record instead. Capacities (`overload`) "
        "nest, held in file order. Fired delays add up; the "
        "first fired *answer* rule in file order answers; *body* rules then change the answer "
        "in turn (a replaced answer leaves nothing for the others).",
        f"- `match.during`: {during} A time-of-day condition: a list of weekly windows "
        '`{days: [mon, …], start: "HH:MM", end: "HH:MM"}` (end excluded; a window never '
        "spans midnight: write two), local time in Asia/Ho_Chi_Minh, read on the simulated "
        "clock — it runs `1 / NDXP_TIME_SCALE` times as fast as the wall clock and `PUT "
        "/admin/clock` (or `PUT /admin/scenario`'s `at`) sets it. Outside its windows the rule "
        "is not there (no draw, no capacity), e.g. `reported-2024`'s peak-hour congestion.",
        f"- `match.hop`: {Match.model_fields['hop'].description} At the LGSP or VDXP hop "
        f"only {', '.join(f'`{k}`' for k in sorted(HOP_KINDS))} apply; the province's calls "
        "there never reach the gateway, and the report places them at that hop. At the "
        f"gateway only {', '.join(f'`{k}`' for k in sorted(GATEWAY_KINDS))} applies, with "
        "`match.during` (when the gateway refuses the calls) and no `probability`.",
        f"- `failure_mode` must be one of REPORTS.md's: {modes}.",
        "- `NDXP_SCENARIOS_DIR` points the gateway and `ndxp-sim scenario` at another folder "
        "of scenario files (default: `scenarios/`).",
    ]
    return "\n".join(lines)


def _phase(cls: type[FaultKind]) -> str:
    if cls.__name__ == "Reset":  # its `phase` parameter decides
        return "answer / after_body"
    return cls.PHASE


BLOCKS: dict[str, Callable[[], str]] = {
    "scenarios": lambda: catalogue_block(load_catalogue()),
    "fault-kinds": kinds_block,
}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(
        rf"(<!-- BEGIN generated: {name} [^\n]*-->\n)(.*?)(<!-- END generated: {name} -->)",
        re.S,
    )


def render(text: str) -> tuple[str, list[str]]:
    """``text`` with every block regenerated, and the names of the blocks that changed."""
    changed = []
    for name, make in BLOCKS.items():
        pattern = _pattern(name)
        found = pattern.search(text)
        if found is None:
            raise ValueError(f"README has no block {name!r} (<!-- BEGIN generated: {name} -->)")
        fresh = make() + "\n"
        if found.group(2) != fresh:
            changed.append(name)
            text = text[: found.start(2)] + fresh + text[found.end(2) :]
    return text, changed


def main(argv: list[str]) -> int:
    text = README.read_text(encoding="utf-8")
    fresh, changed = render(text)
    if "--write" in argv:
        README.write_text(fresh, encoding="utf-8")
        print(f"rewrote: {', '.join(changed) or 'nothing'}")
        return 0
    if changed:
        print(f"README out of date: {', '.join(changed)} — run `{COMMAND}`")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
