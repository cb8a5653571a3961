"""The layers hold: read from every module's imports (``ast``, so imports inside functions and
``TYPE_CHECKING`` blocks count too), not from anyone's memory.

Bottom up: ``ndxp_config`` and ``contracts`` (the wire: models, provinces, header names, the
published documents) import no other package of ours; ``mock_services`` and ``gateway`` stand
on them and never on each other's side — the gateway talks to the mocks only over HTTP; the
routes' hops (``hops``: LGSP, VDXP) stand beside the gateway, on the mocks' fault engine;
``connectors`` and the rest stand above; ``ndxp_sim`` (the command line, supervision, the
report) is the top, and nothing imports it.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ("benchmarks", "connectors", "contracts", "gateway", "hops", "liveview", "loadtests",
        "mock_services", "ndxp_config", "ndxp_sim")  # fmt: skip

# Debts, each with its way out; the test fails when one is paid so the entry goes too.
KNOWN = {
    # The scenario document model (rules, fault kinds) still lives with the mocks' fault
    # engine (mock_services/fault_kinds.py mixes the model and its behaviour); once the model
    # is split out into contracts/, the gateway's scenario API imports it from there.
    ("gateway/admin_scenarios.py", "mock_services"),
    # The live view draws the demo's topology and the report's failure modes: those tables
    # move down (to contracts/ or liveview/) or the live view becomes part of ndxp_sim.
    ("liveview/app.py", "ndxp_sim"),
    ("liveview/process.py", "ndxp_sim"),
    ("liveview/runner.py", "ndxp_sim"),
    ("liveview/stats.py", "ndxp_sim"),
    ("liveview/topology.py", "ndxp_sim"),
}


def imports(path: Path) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every absolute import in ``path``."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.partition(".")[0]


def edges() -> set[tuple[str, str, int]]:
    """(file, imported package of ours, line) across the source tree (tests excluded)."""
    found = set()
    for package in OURS:
        for path in sorted((ROOT / package).rglob("*.py")):
            name = path.relative_to(ROOT).as_posix()
            for line, imported in imports(path):
                if imported in OURS and imported != package:
                    found.add((name, imported, line))
    return found


FORBIDDEN = {
    # benchmarks sit on top, beside the CLI: they start whole stacks as `up` does.
    **{p: {"ndxp_sim"} for p in OURS if p not in ("ndxp_sim", "benchmarks")},
    "ndxp_config": set(OURS) - {"ndxp_config"},
    "contracts": set(OURS) - {"contracts", "ndxp_config"},
    "gateway": {"mock_services", "ndxp_sim", "connectors", "liveview", "loadtests"},
    "mock_services": {"gateway", "ndxp_sim", "connectors", "liveview", "loadtests", "hops"},
    # The routes' hops (LGSP, VDXP) sit beside the gateway and reach it over HTTP only; they
    # reuse the mocks' fault engine (a scenario's rules strike at a hop as at a database).
    "hops": {"gateway", "ndxp_sim", "connectors", "liveview", "loadtests"},
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_a_package_imports_nothing_above_its_layer(package: str) -> None:
    broken = sorted(
        f"{file}:{line} imports {imported}"
        for file, imported, line in edges()
        if file.startswith(f"{package}/")
        and imported in FORBIDDEN[package]
        and (file, imported) not in KNOWN
    )
    assert not broken


def test_every_known_debt_is_still_owed() -> None:
    owed = {(file, imported) for file, imported, _ in edges()}
    assert not KNOWN - owed, "paid off: remove these from KNOWN"


def test_the_import_reader_sees_imports_inside_functions(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text(
        "from __future__ import annotations\nimport os.path\n"
        "def f():\n    from ndxp_sim.supervisor import Service\n"
        "from . import sibling\n",
        encoding="utf-8",
    )
    assert sorted(imports(module)) == [(1, "__future__"), (2, "os"), (4, "ndxp_sim")]
