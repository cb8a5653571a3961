"""A step shape that finds the saturation point; add it to a locustfile:
``-f loadtests/provinces.py,loadtests/step.py``.

Users pace themselves at a fixed rate (``--ndxp-flow-rate``), so while the gateway keeps up,
throughput grows with every step of users. After each step (``--ndxp-step-seconds``) the
shape measures the step alone — requests per second, p95, failure ratio — and stops at the
first saturated step (``loadtests/shapes.py``, :class:`SaturationRule`): throughput per user
under 85 % of the steps before, p95 over ``--ndxp-p95-ms``, or over 1 % failures. It logs a
table of steps and the saturation point — the last step that kept up — and writes them as
JSON to ``--ndxp-saturation-file``.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

from locust import LoadTestShape, events

from loadtests import common  # noqa: F401 - registers the shared --ndxp-* options
from loadtests.shapes import (
    SaturationRule,
    StepPlan,
    StepResult,
    counts_between,
    percentile_of_counts,
)

log = logging.getLogger("ndxp.step")
SETTLE_S = 3.0  # the first seconds of a step (users still spawning) are not measured


@events.init_command_line_parser.add_listener
def _add_options(parser: Any, **_kw: Any) -> None:
    parser.add_argument("--ndxp-step-start", type=int, default=10, help="Users in the first step.")
    parser.add_argument("--ndxp-step-users", type=int, default=10, help="Users added per step.")
    parser.add_argument("--ndxp-step-seconds", type=float, default=20.0, help="Step length.")
    parser.add_argument("--ndxp-step-max", type=int, default=400, help="Most users.")
    parser.add_argument("--ndxp-p95-ms", type=float, default=1000.0, help="p95 limit per step.")
    parser.add_argument(
        "--ndxp-saturation-file", default="", help="Write the steps and the verdict here (JSON)."
    )


class StepShape(LoadTestShape):
    """Steps of users until a step saturates (or ``--ndxp-step-max`` is reached)."""

    plan: StepPlan | None = None
    rule = SaturationRule()
    results: list[StepResult]
    current = -1
    snapshot: tuple[float, int, int, dict[int, int]] | None = None
    verdict: str | None = None
    saturated: StepResult | None = None

    def setup(self) -> StepPlan:
        if self.plan is None:
            assert self.runner is not None
            options = self.runner.environment.parsed_options
            self.plan = StepPlan(
                start=options.ndxp_step_start,
                step=options.ndxp_step_users,
                step_s=options.ndxp_step_seconds,
                max_users=options.ndxp_step_max,
            )
            self.rule = SaturationRule(p95_ms=options.ndxp_p95_ms)
            self.results = []
        return self.plan

    def take_snapshot(self) -> tuple[float, int, int, dict[int, int]]:
        assert self.runner is not None
        total = self.runner.stats.total
        return time.monotonic(), total.num_requests, total.num_failures, dict(total.response_times)

    def close_step(self, users: int) -> bool:
        """Measure the step that just ended; True if it saturated."""
        assert self.snapshot is not None
        t0, n0, f0, rt0 = self.snapshot
        t1, n1, f1, rt1 = self.take_snapshot()
        requests = n1 - n0
        step = StepResult(
            users=users,
            rps=requests / max(t1 - t0, 1e-9),
            p95_ms=percentile_of_counts(counts_between(rt0, rt1), 0.95),
            fail_ratio=(f1 - f0) / requests if requests else 0.0,
        )
        judged = self.rule.judge(self.results, step)
        log.info(
            "step %d users: %.1f req/s, p95 %.0f ms, %.2f%% failed%s",
            step.users,
            step.rps,
            step.p95_ms,
            step.fail_ratio * 100,
            f" — SATURATED: {judged.reason}" if judged.reason else "",
        )
        if judged.reason:
            self.verdict, self.saturated = judged.reason, step
            return True
        self.results.append(step)  # only steps that kept up
        return False

    def tick(self) -> tuple[int, float] | None:
        plan = self.setup()
        run_s = self.get_run_time()
        index = plan.step_index(run_s)
        users = plan.users(run_s)
        in_step = run_s - index * plan.step_s
        if index != self.current:  # a step ended: judge it, then start the next one
            previous = plan.start + plan.step * self.current
            if self.current >= 0 and self.snapshot is not None and self.close_step(previous):
                return self.finish()
            self.current, self.snapshot = index, None
        if users is None:
            return self.finish()
        if self.snapshot is None and in_step >= SETTLE_S:
            self.snapshot = self.take_snapshot()
        return users, float(plan.step)

    def finish(self) -> None:
        point = max(self.results, key=lambda r: r.rps) if self.results else None
        if point is not None:
            log.info(
                "SATURATION POINT: %d users, %.1f req/s, p95 %.0f ms (%s)",
                point.users,
                point.rps,
                point.p95_ms,
                self.verdict or "max users reached without saturating",
            )
        assert self.runner is not None
        target = self.runner.environment.parsed_options.ndxp_saturation_file
        if target:
            report = {
                "steps_kept_up": [asdict(r) for r in self.results],
                "saturated_step": asdict(self.saturated) if self.saturated else None,
                "saturation_point": asdict(point) if point else None,
                "saturated_because": self.verdict,
            }
            Path(target).parent.mkdir(parents=True, exist_ok=True)
            Path(target).write_text(json.dumps(report, indent=2), encoding="utf-8")
        return None
