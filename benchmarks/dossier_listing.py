"""How fast the dossier calendar counts and pages a month of every province's dossiers.

A list endpoint over a 31-day window (the longest a window may be) must count and page more
than 100,000 dossiers without making them: the calendar counts each province's days and
regenerates only the page asked for. This is the worst case the mocks serve — partial edge days,
every province, 1.5× the usual volume — timed for the first and the last page of 100.

The budget (``--budget-s``, 0.5 s) is what a list call may spend here on an idle machine; the
script exits 1 above it. Tests check the counts and pages, not the time (they run on loaded
machines).

Run::

    .venv/bin/python benchmarks/dossier_listing.py
    .venv/bin/python benchmarks/dossier_listing.py --rounds 20 --budget-s 0.5
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contracts.provinces import PROVINCES, Province  # noqa: E402
from mock_services.dossiers import VIETNAM_TZ, dossiers_in_window, page_of  # noqa: E402

SEED = 2024
START = datetime(2024, 6, 3, 10, 0, tzinfo=VIETNAM_TZ)  # Monday 10:00: partial edge days
_TOTAL_K = sum(p.population_k for p in PROVINCES)


def volume(province: Province) -> float:
    """1.5 × 4,000 dossiers a working day nationwide, split by population."""
    return 1.5 * 4000 * province.population_k / _TOTAL_K


def one_listing() -> tuple[float, int]:
    """Seconds to count the window and fetch its first and last page; and the total."""
    began = time.perf_counter()
    listed = dossiers_in_window(
        SEED, "HKD", START, START + timedelta(days=31), None, daily_volume=volume
    )
    first, total = page_of(listed, 1, 100)
    last, _ = page_of(listed, (total - 1) // 100 + 1, 100)
    elapsed = time.perf_counter() - began
    if len(first) != 100 or not 1 <= len(last) <= 100:
        raise RuntimeError(f"pages of {len(first)} and {len(last)} dossiers")
    return elapsed, total


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--budget-s", type=float, default=0.5)
    args = parser.parse_args()
    times = []
    total = 0
    for _ in range(args.rounds):
        elapsed, total = one_listing()
        times.append(elapsed)
    median = statistics.median(times)
    print(
        f"31 days, every province ({total:,} dossiers, {date(2024, 6, 3)} +31 d): "
        f"median {median * 1000:.0f} ms, max {max(times) * 1000:.0f} ms over {args.rounds} rounds"
        f" (budget {args.budget_s * 1000:.0f} ms)"
    )
    return 0 if median <= args.budget_s else 1


if __name__ == "__main__":
    raise SystemExit(main())
