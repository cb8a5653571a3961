"""The catalogue of failure modes (FM-xx) of ``REPORTS.md``, with the rows of report 003's
Phụ lục V (the table of 87 problems met by 21 provinces) that name each one.

A scenario rule's ``failure_mode`` must be one of these ids (:mod:`mock_services.scenarios`
refuses any other with file, line and field). FM-09 and FM-12…FM-17 of the seeds' extract are
context (no API at all, double entry, payment, scoring, identity onboarding, legal validity,
data quality), not gateway behaviour, so they are not here.

Sources are free text (``"003 Phụ lục V row 20 (Thanh Hóa)"``, ``"003 Phụ lục V rows 54–56
(Bình Dương)"``, ``"000:L346–351"``); :func:`cited_rows` reads the Phụ lục V row numbers out of
them, so a report can tell the rows a run's rules reproduced from the rows that the reports
name for a failure mode and no rule of the run reproduced.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

APPENDIX = "003 Phụ lục V"
_ROWS = re.compile(
    r"003 Phụ lục V rows? ((?:\d+(?:\s*[–-]\s*\d+)?)(?:\s*(?:,|and)\s*\d+(?:\s*[–-]\s*\d+)?)*)"
)
_NUMBER_OR_RANGE = re.compile(r"(\d+)(?:\s*[–-]\s*(\d+))?")


@dataclass(frozen=True, slots=True)
class FailureMode:
    """One failure mode of REPORTS.md: its id, title and the Phụ lục V rows that name it."""

    id: str
    title: str
    rows: tuple[int, ...]
    others: tuple[str, ...] = ()  # sources outside Phụ lục V, e.g. "000:L346–351"

    @property
    def citation(self) -> str:
        return format_rows(self.rows)


def format_rows(rows: Iterable[int]) -> str:
    """``[54, 55, 56, 63]`` → ``"003 Phụ lục V rows 54–56, 63"``; runs of three or more join."""
    ordered = sorted(set(rows))
    if not ordered:
        return ""
    parts: list[str] = []
    start = previous = ordered[0]
    for row in [*ordered[1:], None]:
        if row is not None and row == previous + 1:
            previous = row
            continue
        if previous - start >= 2:
            parts.append(f"{start}–{previous}")
        else:
            parts.extend(str(n) for n in range(start, previous + 1))
        if row is not None:
            start = previous = row
    label = "row" if len(ordered) == 1 else "rows"
    return f"{APPENDIX} {label} {', '.join(parts)}"


def cited_rows(sources: Iterable[str]) -> set[int]:
    """The Phụ lục V row numbers the sources cite (``rows 54–56`` gives 54, 55 and 56)."""
    found: set[int] = set()
    for source in sources:
        for match in _ROWS.finditer(source):
            for number in _NUMBER_OR_RANGE.finditer(match.group(1)):
                first = int(number.group(1))
                last = int(number.group(2)) if number.group(2) else first
                found.update(range(first, last + 1))
    return found


FAILURE_MODES: dict[str, FailureMode] = {
    fm.id: fm
    for fm in (
        FailureMode("FM-01", "timeouts, responses over 30 s", (20, 51, 54, 55, 56, 63)),
        FailureMode(
            "FM-02",
            "frequent errors, intermittent disconnects, overload",
            (11, 28, 32, 42, 43, 44, 48, 49, 85),
            ("000:L346–351",),
        ),
        FailureMode("FM-03", "specific APIs return nothing", (3, 51, 68)),
        FailureMode("FM-04", "missing fields", (20, 21, 25, 45, 50, 63, 64, 72)),
        FailureMode("FM-05", "attachments missing or unfetchable", (4, 20, 31, 63, 64, 66)),
        FailureMode("FM-06", "statuses not synced", (12, 13, 63, 64)),
        FailureMode("FM-07", "no connection kit", (14, 15, 27, 57, 58, 59, 60, 61, 86)),
        FailureMode("FM-08", "unannounced contract changes", (8, 14, 15, 42)),
        FailureMode(
            "FM-10", "conflicting routes, errors on the LGSP route", (2, 43, 44, 48, 49, 51, 87)
        ),
        FailureMode("FM-11", "maintenance in business hours, limited availability", (29, 62)),
    )
}


@dataclass(frozen=True, slots=True)
class AppendixRow:
    """One row of Phụ lục V that a scenario cites: who wrote it, about which system.

    ``providers``: the mock national databases the row is about (empty: a system the simulator
    does not have — social assistance, land). ``stand_in``: a mock that stands in for such a
    system, said so in the rule (the same ministry's shared software).
    """

    row: int
    province: str  # 3-digit code
    system: str
    providers: frozenset[str]
    stand_in: str | None = None


def _row(
    row: int, province: str, system: str, *providers: str, stand_in: str | None = None
) -> AppendixRow:
    return AppendixRow(row, province, system, frozenset(providers), stand_in)


_BR, _DL, _CR, _POP = "business-registry", "driver-licence", "civil-registry", "population"
_JR = "judicial-records"
# From research/seeds-extract.md §1.1 (003:L957–1141); only rows that FM-01…FM-11 name.
APPENDIX_ROWS: dict[int, AppendixRow] = {
    r.row: r
    for r in (
        _row(2, "080", "population + identity: 1:1 connection only", _POP),
        _row(3, "044", "ĐKDN/HKD/HTX: 6 of 9 APIs return nothing", _BR),
        _row(4, "019", "GPLX, ĐKDN: components and results not returned", _DL, _BR),
        _row(8, "077", "DVCQG: scoring-index rules changed without announcement"),
        _row(11, "077", "civil registry: frequent errors, interrupted", _CR),
        _row(12, "015", "GPLX renewal: paused, rejected, overdue not synced", _DL),
        _row(13, "015", "ĐKDN/HTX/HKD: same as row 12", _BR),
        _row(14, "022", "prices, budget codes, vehicle inspection, EVN: no docs; fields change"),
        _row(15, "022", "land, postcodes, MoC, legal docs, insurance: no official docs"),
        _row(20, "038", "ĐKDN: timeouts >30 s, file ids, HTX code and name", _BR),
        _row(21, "038", "GPLX renewal: phone, health certificate, fees, unit", _DL),
        _row(25, "038", "population via VNeID: phone, ID-card date, parents' DOB", _POP),
        _row(27, "004", "ĐKDN: no postman file, url, key; testing outside office hours", _BR),
        _row(28, "040", "ĐKDN/HTX/HKD: frequent errors", _BR),
        _row(29, "040", "land (VBDLIS): free 3 days a week"),
        _row(31, "040", "GPLX renewal: digitised results not shared", _DL),
        _row(32, "040", "judicial records, civil registry: unstable", _CR, _JR),
        _row(42, "051", "civil registry, judicial records: overloaded, stops", _CR, _JR),
        _row(43, "066", "civil registry via LGSP–NDXP: frequent errors", _CR),
        _row(44, "066", "business registration via LGSP–NDXP: errors", _BR),
        _row(45, "066", "GPLX renewal: result date, return date, result file", _DL),
        _row(48, "067", "civil registry via LGSP–NDXP: errors, interrupted", _CR),
        _row(49, "067", "business registration via LGSP–NDXP: errors", _BR),
        _row(50, "067", "GPLX renewal: same 3 fields as row 45", _DL),
        _row(51, "074", "ĐKKD: slow, timeouts, 3 APIs failing; two platforms", _BR),
        _row(54, "074", "judicial records online: slow, timeouts", _JR),
        _row(55, "074", "civil registry: slow, timeouts", _CR),
        _row(56, "074", "social assistance online: slow, timeouts"),
        _row(62, "058", "judicial records (shared LLTP): upgrades in business hours", _JR),
        _row(63, "058", "ĐKDN/HTX/HKD: timeouts, stale status, file ids, HTX code", _BR),
        _row(64, "058", "social assistance: result date in states 9, 10; result file"),
        _row(66, "025", "GPLX, ĐKDN: components and results not synced", _DL, _BR),
        _row(68, "044", "ĐKDN: repeats row 3", _BR),
        _row(72, "048", "population: 20 of 26 fields; wrong or empty values", _POP),
        _row(85, "011", "civil registry: frequent errors", _CR),
        _row(87, "002", "ĐKDN/HTX/HKD: NDXP and VDXP routes both prescribed", _BR),
    )
}


def unknown_failure_mode(mode: str) -> str | None:
    """Why ``mode`` is refused as a rule's failure mode (None when it is in the catalogue)."""
    if mode in FAILURE_MODES:
        return None
    return f"{mode!r} is not a failure mode of REPORTS.md; choose one of {', '.join(FAILURE_MODES)}"


__all__ = [
    "APPENDIX",
    "APPENDIX_ROWS",
    "FAILURE_MODES",
    "AppendixRow",
    "FailureMode",
    "cited_rows",
    "format_rows",
]
