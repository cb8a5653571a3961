"""What journaling costs per exchange record: the request path (``submit``) and the drain.

``submit`` is what the proxy pays before each answer leaves: mask the detail, serialise the
record to one JSON line, one ``os.write`` on an ``O_APPEND`` descriptor, a deque append. The
figures, per record, median of ``--rounds``:

* **serialise**: the JSON line alone (the floor any durable log pays);
* **submit**: the whole request-path cost, the drainer not running (nothing competes);
* **submit + drain**: CPU of the whole process per record, submit and the drainer storing it
  in SQLite (what the gateway process spends on logging in all);
* **submit, fsync=True**: with a disk flush per record (the opt-in power-cut setting).

Run::

    .venv/bin/python benchmarks/journal.py
    .venv/bin/python benchmarks/journal.py --records 100000 --rounds 5 --json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from contracts.exchange import ExchangeRecord  # noqa: E402
from gateway.exchange_log_sqlite import SqliteRecordStore  # noqa: E402
from gateway.journal import JournaledExchangeLog  # noqa: E402
from ndxp_config.settings import JournalSettings  # noqa: E402

T0 = datetime(2025, 3, 14, 2, 0, 0, tzinfo=UTC)


def make_records(count: int) -> list[ExchangeRecord]:
    """Realistic records: a successful exchange with every timestamp and size set."""
    return [
        ExchangeRecord(
            exchange_id=f"{i:032x}",
            trace_id=f"{i + 1:032x}",
            consumer="onestop-thanh-hoa",
            provider="population",
            service="population.get_citizen",
            method="GET",
            path_template="/v1/citizens/{personal_id}",
            status_code=200,
            outcome="ok",
            succeeded=True,
            fault_code=None,
            request_in_ts=T0 + timedelta(milliseconds=i),
            request_out_ts=T0 + timedelta(milliseconds=i, microseconds=300),
            response_in_ts=T0 + timedelta(milliseconds=i, microseconds=2500),
            response_out_ts=T0 + timedelta(milliseconds=i, microseconds=2900),
            duration_ms=2.9,
            upstream_ms=2.2,
            request_size=0,
            response_size=512,
            quota_remaining=49_000 - i,
        )
        for i in range(count)
    ]


def per_record_us(fn: Callable[[], None], count: int) -> tuple[float, float]:
    """(wall µs, CPU µs) per record for ``fn`` handling ``count`` records."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return (
        (time.perf_counter() - wall) / count * 1e6,
        (time.process_time() - cpu) / count * 1e6,
    )


def serialise(records: list[ExchangeRecord]) -> tuple[float, float]:
    serializer = ExchangeRecord.__pydantic_serializer__
    return per_record_us(lambda: [serializer.to_json(r) + b"\n" for r in records], len(records))


def submit_only(records: list[ExchangeRecord], *, fsync: bool = False) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        log = JournaledExchangeLog(
            SqliteRecordStore(Path(tmp) / "exchanges.db"),
            Path(tmp) / "journal",
            JournalSettings(fsync=fsync, max_pending=len(records)),
        )

        def run() -> None:
            for record in records:
                log.submit(record)

        result = per_record_us(run, len(records))
        assert log.dropped == 0
        return result


def submit_and_drain(records: list[ExchangeRecord]) -> tuple[float, float]:
    async def main(tmp: Path) -> tuple[float, float]:
        log = JournaledExchangeLog(SqliteRecordStore(tmp / "exchanges.db"), tmp / "journal")
        await log.start()
        wall, cpu = time.perf_counter(), time.process_time()
        for i, record in enumerate(records):
            log.submit(record)
            if i % 100 == 99:
                await asyncio.sleep(0)  # as a server would: the drainer runs between requests
        await log.flush()
        result = (
            (time.perf_counter() - wall) / len(records) * 1e6,
            (time.process_time() - cpu) / len(records) * 1e6,
        )
        await log.close()
        assert log.dropped == 0
        return result

    with tempfile.TemporaryDirectory() as tmp:
        return asyncio.run(main(Path(tmp)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--fsync-records", type=int, default=2_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="one JSON object instead of a table")
    args = parser.parse_args()
    records = make_records(args.records)
    line_bytes = len(records[0].model_dump_json()) + 1
    cases: dict[str, Callable[[], tuple[float, float]]] = {
        "serialise": lambda: serialise(records),
        "submit": lambda: submit_only(records),
        "submit + drain (SQLite)": lambda: submit_and_drain(records),
        "submit, fsync=True": lambda: submit_only(records[: args.fsync_records], fsync=True),
    }
    results: dict[str, dict[str, float]] = {}
    for name, case in cases.items():
        runs = [case() for _ in range(args.rounds)]
        results[name] = {
            "wall_us": statistics.median(r[0] for r in runs),
            "cpu_us": statistics.median(r[1] for r in runs),
        }
    if args.json:
        print(json.dumps({"records": args.records, "line_bytes": line_bytes, **results}))
        return
    print(f"{args.records} records of {line_bytes} bytes, median of {args.rounds} rounds")
    print(f"{'per record':<26}{'wall µs':>10}{'CPU µs':>10}")
    for name, figures in results.items():
        print(f"{name:<26}{figures['wall_us']:>10.2f}{figures['cpu_us']:>10.2f}")


if __name__ == "__main__":
    main()
