"""The gateway worker's CPU by component, from py-spy's sampled stacks.

``py-spy record --format raw`` writes one line per distinct stack, ``frame;frame;... count``
(root first). Each stack is given to the first component (in the order below) that one of
its frames belongs to — deepest concerns first (GC, JWT, the contract check...), the
frameworks every request passes through last — so a share is the worker's CPU spent in that
component and what it calls. Frames are matched on their file path and function name; a
tree whose modules have other names (a rewritten hot path) shows up under "gateway (other)"
or "other", with the heaviest such frames listed.
"""

from __future__ import annotations

import re
import subprocess
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

# (component, regex on one frame "function (path:line)"), first match over the stack wins.
COMPONENTS: tuple[tuple[str, str], ...] = (
    ("GC", r"gc_collect|collect_generations|[(/]gc\.collect"),
    ("JWT verify", r"[(/]jwt/|gateway/auth\.py"),
    ("contract check", r"gateway/contract_check\.py"),
    ("ExchangeRecord (build record)", r"to_record \(.*gateway/exchange\.py|contracts/exchange\.py"),
    ("exchange log (journal)", r"gateway/journal|gateway/exchange_log"),
    ("structlog (log line)", r"[(/]structlog/|log_line|write \(.*gateway/exchange\.py"),
    ("prometheus", r"[(/]prometheus_client/|gateway/metrics\.py"),
    ("quota + RateLimit headers", r"gateway/quota|gateway/admission\.py|ratelimit|RateLimit"),
    ("ids / trace context", r"uuid|SystemRandom|[(/]random\.py|[(/]secrets\.py|traceparent|_trace"),
    ("building upstream request", r"build_request|_dropped|_connection_tokens|_forward_headers"),
    ("transport", r"[(/]httpcore/|[(/]h11/|gateway/transport\.py|_transports/"),
    ("httpx client layers", r"[(/]httpx/"),
    ("thread pool hand-off", r"_worker \([^)]*concurrent/futures/thread\.py"),
    ("FastAPI/Starlette", r"[(/]fastapi/|[(/]starlette/|gateway/edge\.py"),
    ("uvicorn", r"[(/]uvicorn/|gateway/protocol\.py"),
    ("pydantic (elsewhere)", r"[(/]pydantic|pydantic_core"),
    ("event loop (uvloop, C: I/O, parsing)", r"[(/]asyncio/|uvloop"),
    ("gateway (other)", r"[(/]gateway/"),
)
_COMPILED = tuple((name, re.compile(rx)) for name, rx in COMPONENTS)


def record_argv(py_spy: str, pid: int, duration: float, out: Path, *, native: bool) -> list[str]:
    argv = [
        py_spy,
        "record",
        "--pid",
        str(pid),
        "--duration",
        str(max(1, round(duration))),
        "--rate",
        "250",
        "--format",
        "raw",
        "--output",
        str(out),
        "--nonblocking",
    ]
    return [*argv, "--native"] if native else argv


def start_recording(py_spy: str, pid: int, duration: float, out: Path) -> subprocess.Popen[bytes]:
    """py-spy on ``pid`` for ``duration`` seconds (native frames when it can unwind them)."""
    probe = subprocess.run(
        record_argv(py_spy, pid, 1, out, native=True), capture_output=True, timeout=60
    )
    native = probe.returncode == 0
    print(f"py-spy on pid {pid}: {'with' if native else 'without'} native frames", flush=True)
    return subprocess.Popen(
        record_argv(py_spy, pid, duration, out, native=native),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def parse_raw(text: str) -> list[tuple[list[str], int]]:
    stacks = []
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if stack and count.isdigit():
            stacks.append((stack.split(";"), int(count)))
    return stacks


def classify(stack: Sequence[str]) -> str:
    for name, rx in _COMPILED:
        if any(rx.search(frame) for frame in stack):
            return name
    return "other"


def component_table(raw: str) -> tuple[list[tuple[str, int, float]], list[tuple[str, int]]]:
    """Rows (component, samples, share %) heaviest first, and the top leaf frames of the rest."""
    stacks = parse_raw(raw)
    by_component: Counter[str] = Counter()
    leftovers: Counter[str] = Counter()
    for stack, count in stacks:
        name = classify(stack)
        by_component[name] += count
        if name in ("other", "gateway (other)"):
            leftovers[stack[-1]] += count
    total = sum(by_component.values()) or 1
    rows = [(n, c, 100 * c / total) for n, c in by_component.most_common()]
    return rows, leftovers.most_common(8)


def print_table(raw: str) -> None:
    rows, leftovers = component_table(raw)
    samples = sum(c for _, c, _ in rows)
    print(f"\npy-spy: the gateway worker's CPU by component ({samples} samples, 250 Hz)")
    print(f"{'component':<40}{'samples':>9}{'share':>8}")
    for name, count, share in rows:
        print(f"{name:<40}{count:>9}{share:>7.1f}%")
    if leftovers:
        print("heaviest leaf frames in 'other' / 'gateway (other)':")
        for frame, count in leftovers:
            print(f"  {count:>7}  {frame[:110]}")
