"""The trainer's terminal demo (``ndxp-sim demo FLOW``): one flow, narrated hop by hop.

Each hop is told as the path it takes — province → NDXP gateway → national database — then
what the SDK saw, from its :class:`~connectors.events.ClientEvent` stream: the request, the
answer (status, latency, exchange id, quota left), each retry and its wait, a breaker that
opens, the moment it gives up; then what the flow made of the answer (a flagged contract
violation, a missing file). ``--step`` waits for Enter before each new hop. The demo ends with
the outcome, every exchange id and the admin URLs that show them in the gateway's log.

The scenario (``--scenario fm-04``) is switched on through the gateway's admin API, or mock by
mock if the gateway lacks it (:func:`connectors.flows.switch_scenario_for`), and stays on
after the demo, so the trainer can show the same failure again or in the exchange log.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import httpx
from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from connectors.client import NdxpClient
from connectors.errors import NdxpError
from connectors.events import ClientEvent
from connectors.flows import FLOWS, FlowOptions, FlowResult, Step, record_event
from connectors.flows.scenario import ScenarioSwitchError, switch_scenario_for
from connectors.provinces import FLOW_NAMES, FlowName, OneStopSystem, find_system
from mock_services.scenarios import SCENARIOS_DIR, find_scenario
from ndxp_config.settings import Settings

DATABASES = {
    "population": "population database (CSDLQG về dân cư)",
    "business-registry": "business registration database (CSDLQG về đăng ký doanh nghiệp)",
    "driver-licence": "driver-licence database (CSDL giấy phép lái xe)",
    "civil-registry": "civil registry (hệ thống hộ tịch)",
    "judicial-records": "judicial-records database (CSDL lý lịch tư pháp)",
}
TITLES: dict[FlowName, str] = {
    "licence_renewal": "Driver-licence renewal intake (tiếp nhận hồ sơ đổi GPLX)",
    "birth_registration": "Linked birth registration (liên thông đăng ký khai sinh)",
    "business_sync": "Business dossier sync (đồng bộ hồ sơ đăng ký kinh doanh)",
    "household_verification": "Household verification (xác thực thông tin hộ gia đình)",
    "criminal_record_certificate": "Criminal-record certificate (cấp Phiếu lý lịch tư pháp)",
}
# What a code means to the province (README's error table), told when a hop fails.
MEANINGS = {
    "upstream_timeout": "the national database did not answer within NDXP's timeout",
    "upstream_unreachable": "NDXP could not connect to the national database",
    "upstream_reset": "the national database dropped the connection mid-exchange",
    "upstream_overloaded": "the national database is shedding load (503)",
    "provider_overloaded": "the national database is shedding load (503)",
    "service_unavailable": "the national database stopped answering for a while (503)",
    "provider_maintenance": "the national database is in a maintenance window",
    "upstream_error": "the national database failed (5xx, passed on by NDXP)",
    "provider_error": "the national database failed (5xx, passed on by NDXP)",
    "quota_exceeded": "the province's daily quota at NDXP is spent",
    "unauthenticated": "NDXP refused the credentials or token",
    "forbidden": "the province does not subscribe to this service",
    "not_found": "the national database has no such record",
    "circuit_open": "the SDK's breaker is open: it did not even send the call",
    "contract_violation": "the answer came but breaks the published contract",
}
# Demo polling: a trainer waits a minute at most for a registration to settle.
DEMO_OPTIONS = FlowOptions(max_wait_s=60.0, max_poll_s=5.0, max_polls=40)

InputFn = Callable[[str], object]


class DemoError(ValueError):
    """A demo cannot start (unknown flow, province or scenario); the message says which."""


class Narrator:
    """A :class:`~connectors.flows.StepListener` that tells each hop on a rich console."""

    def __init__(
        self, console: Console, system: OneStopSystem, gateway_url: str, step: bool, ask: InputFn
    ) -> None:
        self.console, self.system, self.gateway_url = console, system, gateway_url
        self.step, self.ask = step, ask
        self._previous: str | None = None

    async def step_started(self, step: Step) -> None:
        if self.step and self._previous is not None and step.service != self._previous:
            self.ask("  [Enter] next hop… ")
        self._previous = step.service
        self.console.rule(f"[bold]Hop {step.index}[/bold] · {step.service}", align="left")
        self.console.print(
            f"[cyan]{self.system.label}[/cyan] → [magenta]NDXP gateway[/magenta] → "
            f"[green]{DATABASES.get(step.provider, step.provider)}[/green]: {step.what}"
        )

    def event(self, step: Step, event: ClientEvent) -> None:
        say = self.console.print
        if event.kind == "token":
            say(f"  [dim]token[/dim]  POST {self.gateway_url}/oauth2/token → {event.detail}")
        elif event.kind == "request":
            say(f"  →  {event.method} {self.gateway_url}{event.path}  (attempt {event.attempt})")
        elif event.kind == "response":
            colour = "green" if event.status and event.status < 400 else "red"
            quota = (
                "" if event.quota_remaining is None else f" · quota left {event.quota_remaining:,}"
            )
            say(
                f"  ←  [{colour}]{event.status}[/{colour}] {event.code or 'OK'} in "
                f"{event.latency_ms or 0:.0f} ms · exchange {event.exchange_id}{quota}"
            )
        elif event.kind == "retry":
            say(
                f"  [yellow]↻  SDK retries in {event.delay_s or 0:.2f} s[/yellow] after "
                f"{event.code} ({event.detail}: retryable, exponential backoff with jitter)"
            )
        elif event.kind == "breaker":
            say(f"  [red]⚡ breaker of {event.provider}: {event.detail}[/red]")
        elif event.kind == "give_up":
            say(f"  [red]✗  SDK gives up after {event.attempt} attempt(s): {event.detail}[/red]")
        elif event.kind == "quota_reserve":
            say(f"  [red]⛔ not sent, quota reserve kept: {event.detail}[/red]")

    def step_ended(self, step: Step, error: NdxpError | None) -> None:
        if error is not None:
            origin = "NDXP refused it" if error.from_gateway else "passed on from the database"
            if error.code in ("circuit_open", "contract_violation"):
                origin = "the SDK's own verdict"
            meaning = MEANINGS.get(error.code, error.detail or "")
            self.console.print(f"  [red]✗  {error.code}[/red]: {meaning} ({origin})")
        if step.violations:
            fields = ", ".join(step.violations)
            self.console.print(f"  [yellow]⚠  missing or broken fields flagged by NDXP: {fields}")
        if step.note and error is None:
            self.console.print(f"  [dim]=  {step.note}[/dim]")


async def run_demo(
    settings: Settings,
    flow: str,
    province: str = "Thanh Hóa",
    scenario: str | None = None,
    step: bool = False,
    console: Console | None = None,
    input_fn: InputFn = input,
    *,
    seed: int | None = None,
    options: FlowOptions = DEMO_OPTIONS,
) -> FlowResult:
    """Narrate one flow against the running stack (``ndxp-sim up``); returns its result."""
    console = console or Console()
    name = flow.replace("-", "_")
    if name not in FLOW_NAMES:
        names = ", ".join(n.replace("_", "-") for n in FLOW_NAMES)
        raise DemoError(f"unknown flow {flow!r}; choose one of {names}")
    try:
        system = find_system(settings, province)
    except LookupError as exc:
        raise DemoError(str(exc)) from None
    seed = random.SystemRandom().randrange(10**6) if seed is None else seed
    gateway = settings.gateway.url
    console.print(
        Panel(
            f"[bold]{TITLES[name]}[/bold]  (seed {seed})\n"
            f"[cyan]{system.label}[/cyan] ({system.client_id}) → [magenta]NDXP gateway[/magenta] "
            f"{gateway} → national databases",
            title="ndxp-sim trainer demo",
        )
    )
    if scenario is not None:
        try:
            directory = getattr(settings, "scenarios_dir", None) or SCENARIOS_DIR
            found = find_scenario(scenario, directory)
            how = await switch_scenario_for(settings, found.id)
        except (ValueError, ScenarioSwitchError) as exc:
            raise DemoError(str(exc)) from None
        except httpx.HTTPError as exc:
            raise DemoError(f"cannot reach {gateway} ({exc}): is `ndxp-sim up` running?") from None
        console.print(f"Scenario [bold]{found.id}[/bold] — {found.title} (set via {how})")
    else:
        console.print("Scenario: whatever the databases run now (default baseline)")
    narrator = Narrator(console, system, gateway, step, input_fn)
    async with NdxpClient(
        gateway, system.client_id, system.client_secret, on_event=record_event
    ) as ndxp:
        result = await FLOWS[name](ndxp, system, seed=seed, options=options, listener=narrator)
    admin = (
        settings.gateway.admin_token.get_secret_value()
        if settings.mode == "dev"
        else "$NDXP_GATEWAY__ADMIN_TOKEN"
    )
    _ending(console, result, gateway, admin)
    return result


def _ending(console: Console, result: FlowResult, gateway: str, admin: str) -> None:
    colour = {"completed": "green", "degraded": "yellow", "failed": "red"}[result.outcome]
    console.rule()
    console.print(f"[bold {colour}]{result.outcome.upper()}[/bold {colour}]: {result.reason}")
    table = Table(title="Exchanges (the gateway's log has every one)")
    for column in ("hop", "service", "status", "exchange id"):
        table.add_column(column)
    for step in result.steps:
        status = str(step.status or "-") + (f" {step.error_code}" if step.error_code else "")
        for exchange_id in step.exchange_ids or ["(not sent)"]:
            table.add_row(str(step.index), step.service, status, exchange_id)
    console.print(table)
    curl = f'curl -s -H "Authorization: Bearer {admin}"'
    console.print(
        "Inspect them in the gateway's exchange log (admin API):\n"
        f"  {curl} '{gateway}/admin/exchanges?consumer={result.consumer}'\n"
        + "".join(f"  {curl} {gateway}/admin/exchanges/{eid}\n" for eid in result.exchange_ids),
        soft_wrap=True,
        highlight=False,
    )


__all__ = ["DemoError", "Narrator", "run_demo"]
