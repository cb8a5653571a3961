"""``ndxp-sim report --exchanges FILE``: a missing file or a CSV export is a clear error."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from ndxp_sim.cli import app


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "cannot read"),
        ("exchange_id,consumer,outcome\nabc,onestop-thanh-hoa,ok\n", "line 1: not an exchange"),
    ],
    ids=["missing", "csv"],
)
def test_report_on_an_unreadable_exchanges_file_says_why_without_a_traceback(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "exchanges.jsonl"
    if content is not None:
        path.write_text(content, encoding="utf-8")
    result = CliRunner().invoke(app, ["report", "--exchanges", str(path)])
    assert result.exit_code == 1
    assert expected in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
