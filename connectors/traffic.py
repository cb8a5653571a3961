"""Background traffic (*lưu lượng nền*): the 63 one-stop systems running their flows through
NDXP at a given rate, so the gateway's metrics and exchange log move.

Arrivals are a Poisson process: exponential gaps at ``rate`` flows a second across all
provinces (or, with ``--shape business-day``, the business day in simulated time: ``rate`` at
the morning peak, less at other hours — :mod:`connectors.traffic_shape`), drawn from one
seeded RNG together with each arrival's flow (by the mix), province
(by population) and the flow's own seed — the same seed gives the same sequence of runs.
Each run is its own task, so a slow national database does not slow the arrivals; at most
``max_in_flight`` runs are in flight and an arrival beyond that is counted as ``shed`` rather
than queued without bound. Each province has one :class:`~connectors.client.NdxpClient` (one
token, one breaker per provider), shared by its concurrent runs.

``python -m connectors.traffic --rate 0.5`` runs until SIGINT/SIGTERM (or ``--duration``),
logs one ``flow_outcome`` JSON line per run and a summary at the end; ``ndxp-sim up
--traffic`` starts it as one more supervised process (:func:`ndxp_sim.traffic.traffic_service`).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import signal
import sys
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table

from connectors.client import NdxpClient
from connectors.flows import FLOWS, FlowOptions, FlowResult, record_event
from connectors.provinces import (
    DEFAULT_RATE,
    FLOW_NAMES,
    FlowName,
    Mix,
    OneStopSystem,
    draw_system,
    one_stop_systems,
)
from connectors.traffic_shape import (
    SHAPES,
    BusinessDay,
    TrafficShape,
    follow_gateway_clock,
    sync_clock,
)
from ndxp_config.settings import Settings, get_settings
from ndxp_config.simclock import SimClock

MAX_IN_FLIGHT = 200
DRAIN_GRACE_S = 10.0


@dataclass
class TrafficSummary:
    """What a traffic run did: runs by flow and outcome, the commonest reasons, shed arrivals."""

    seed: int
    rate: float
    shape: TrafficShape = "flat"
    started: int = 0
    shed: int = 0
    thinned: int = 0  # business-day: candidate arrivals the hour's intensity left out
    cancelled: int = 0
    outcomes: Counter[tuple[str, str]] = field(default_factory=Counter)
    reasons: Counter[str] = field(default_factory=Counter)
    exchanges: int = 0

    def add(self, result: FlowResult) -> None:
        self.outcomes[(result.flow, result.outcome)] += 1
        self.exchanges += len(result.exchange_ids)
        if result.outcome != "completed":
            self.reasons[f"{result.flow} {result.outcome}: {_generic(result.reason)}"] += 1

    @property
    def finished(self) -> int:
        return sum(self.outcomes.values())

    def count(self, outcome: str, flow: str | None = None) -> int:
        return sum(n for (f, o), n in self.outcomes.items() if o == outcome and flow in (None, f))

    def table(self) -> Table:
        """A rich table: one row per flow, a column per outcome."""
        table = Table(title=f"Traffic: {self.finished} flows, {self.exchanges} exchanges")
        for column in ("flow", "completed", "degraded", "failed"):
            table.add_column(column, justify="left" if column == "flow" else "right")
        for flow in FLOW_NAMES:
            counts = [str(self.outcomes[(flow, o)]) for o in ("completed", "degraded", "failed")]
            table.add_row(flow, *counts)
        return table


def _generic(reason: str) -> str:
    """A reason without its ids, so that runs failing the same way count together."""
    words = [w for w in reason.split() if not any(c.isdigit() for c in w)]
    return " ".join(words)[:120]


async def run_traffic(
    settings: Settings,
    rate: float = DEFAULT_RATE,
    *,
    stop_event: asyncio.Event,
    seed: int | None = None,
    mix: Mix | None = None,
    options: FlowOptions | None = None,
    transport: httpx.AsyncBaseTransport | None = None,
    max_flows: int | None = None,
    max_in_flight: int = MAX_IN_FLIGHT,
    on_result: Callable[[FlowResult], None] | None = None,
    client_options: Mapping[str, Any] | None = None,
    business_day: BusinessDay | None = None,
) -> TrafficSummary:
    """Run flows at ``rate`` a second until ``stop_event`` is set (or ``max_flows`` started).

    With ``business_day``, ``rate`` is the morning peak's and each arrival is kept with the
    day's intensity at the simulated time (thinning); None: flat, ``rate`` all day.

    Runs still in flight at the stop get :data:`DRAIN_GRACE_S` to finish, then are cancelled.
    ``transport`` (tests) reaches an in-process gateway; ``client_options`` are passed to
    every ``NdxpClient`` (e.g. ``max_attempts``, ``sleep``).
    """
    if rate <= 0:
        raise ValueError("rate must be > 0 flows a second")
    seed = random.SystemRandom().randrange(2**32) if seed is None else seed
    rng = random.Random(seed)
    mix = mix or Mix.default()
    systems = one_stop_systems(settings)
    if not systems:
        raise ValueError("the registry has no provincial one-stop system")
    shape: TrafficShape = "flat" if business_day is None else "business-day"
    summary = TrafficSummary(seed=seed, rate=rate, shape=shape)
    clients: dict[str, NdxpClient] = {}
    tasks: set[asyncio.Task[None]] = set()

    def client_for(system: OneStopSystem) -> NdxpClient:
        if system.province.code not in clients:
            # Each province on its route (connectors.routes); an injected transport stands
            # for the gateway itself, so it is reached directly.
            route = system.route if transport is None else None
            clients[system.province.code] = NdxpClient(
                route.base_url if route else settings.gateway.url,
                system.client_id,
                system.client_secret,
                on_event=record_event,
                transport=transport,
                **(route.client_options() if route else {}),
                **dict(client_options or {}),
            )
        return clients[system.province.code]

    async def one(flow: FlowName, system: OneStopSystem, flow_seed: int) -> None:
        result = await FLOWS[flow](client_for(system), system, seed=flow_seed, options=options)
        summary.add(result)
        if on_result is not None:
            on_result(result)

    try:
        while not stop_event.is_set() and (max_flows is None or summary.started < max_flows):
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop_event.wait(), rng.expovariate(rate))
            if stop_event.is_set():
                break
            if business_day is not None and not business_day.keep(rng):
                summary.thinned += 1
                continue
            flow, system, flow_seed = mix.draw(rng), draw_system(rng, systems), rng.getrandbits(63)
            if len(tasks) >= max_in_flight:
                summary.shed += 1
                continue
            summary.started += 1
            task = asyncio.create_task(one(flow, system, flow_seed))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            _, pending = await asyncio.wait(set(tasks), timeout=DRAIN_GRACE_S)
            for task in pending:
                task.cancel()
            summary.cancelled = len(pending)
            await asyncio.gather(*pending, return_exceptions=True)
    finally:
        for client in clients.values():
            await client.aclose()
    return summary


def traffic_argv(
    rate: float,
    *,
    seed: int | None = None,
    mix: str | None = None,
    shape: TrafficShape = "flat",
) -> list[str]:
    """The command line of the traffic process (what ``up --traffic`` starts)."""
    argv = [sys.executable, "-m", "connectors.traffic", "--rate", str(rate)]
    if shape != "flat":
        argv += ["--shape", shape]
    if seed is not None:
        argv += ["--seed", str(seed)]
    if mix:
        argv += ["--mix", mix]
    return argv


def main(argv: list[str] | None = None) -> int:
    """``python -m connectors.traffic``: run until SIGINT/SIGTERM or ``--duration``."""
    parser = argparse.ArgumentParser(prog="python -m connectors.traffic", description=__doc__)
    parser.add_argument(
        "--rate", type=float, default=DEFAULT_RATE, help="flows per second (business-day: at peak)"
    )
    parser.add_argument(
        "--shape", choices=SHAPES, default="flat", help="flat, or the business day in sim time"
    )
    parser.add_argument("--seed", type=int, default=None, help="same seed, same runs")
    parser.add_argument("--mix", default="", help="e.g. licence_renewal=1,business_sync=2")
    parser.add_argument("--duration", type=float, default=None, help="seconds, then stop")
    args = parser.parse_args(argv)
    from gateway.server import configure_logging

    configure_logging(json=True)
    console = Console(stderr=True)
    summary = asyncio.run(_main(get_settings(), args.rate, args.seed, Mix.parse(args.mix), args))
    console.print(summary.table())
    for reason, count in summary.reasons.most_common(10):
        console.print(f"  {count:>5} × {reason}")
    console.print(
        f"seed {summary.seed}, {summary.shape}, {summary.shed} arrivals shed, "
        f"{summary.thinned} left out by the hour, {summary.cancelled} cancelled"
    )
    return 0


async def _main(
    settings: Settings, rate: float, seed: int | None, mix: Mix, args: argparse.Namespace
) -> TrafficSummary:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    if args.duration is not None:
        loop.call_later(args.duration, stop.set)
    if args.shape == "flat":
        return await run_traffic(settings, rate, stop_event=stop, seed=seed, mix=mix)
    clock = SimClock(settings.time_scale)
    await sync_clock(clock, settings)  # the first arrival already on the mocks' hour
    following = asyncio.create_task(follow_gateway_clock(clock, settings, stop))
    try:
        return await run_traffic(
            settings, rate, stop_event=stop, seed=seed, mix=mix, business_day=BusinessDay(clock)
        )
    finally:
        stop.set()
        await following


if __name__ == "__main__":  # pragma: no cover - the process entry
    raise SystemExit(main())


__all__ = ["TrafficSummary", "main", "run_traffic", "traffic_argv"]
