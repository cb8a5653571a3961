"""Wire models of the NDXP gateway's own API: tokens, registry and quota views, health, scenarios.

The proxied national-database routes are not here: their bodies are the providers' contracts
(:mod:`contracts.population`, ...). Exchange-log records are in :mod:`contracts.exchange`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BeforeValidator, Field

from contracts.common import INTEGER_ONLY, WireCount, WireModel


def _iso_text(value: Any) -> Any:
    # A JSON number would be read as seconds since 1970 (`{"at": 0}` → 1970-01-01): the
    # schema says an RFC 3339 string, so nothing else is accepted.
    if value is not None and not isinstance(value, str | datetime):
        raise ValueError("an RFC 3339 date-time string with a UTC offset is required")
    return value


IsoDatetime = Annotated[AwareDatetime, BeforeValidator(_iso_text)]


class TokenResponse(WireModel):
    """OAuth2 access token response (RFC 6749 §5.1) of the client-credentials grant."""

    access_token: str = Field(description="A signed JWT (HS256); send it as `Bearer <token>`.")
    token_type: Literal["Bearer"] = "Bearer"
    expires_in: int = Field(gt=0, description="Seconds until the token expires.")


class TimeoutsView(WireModel):
    connect_s: float
    read_s: float
    total_s: float


class OperationView(WireModel):
    service: str = Field(examples=["population.get_citizen"])
    method: str = Field(examples=["GET"])
    path: str = Field(
        description="Path template on the provider; the consumer calls /{provider}{path}.",
        examples=["/v1/citizens/{personal_id}"],
    )
    response_model: str | None = Field(description='Contract checked on 2xx ("module:Class").')
    timeouts: TimeoutsView


class ProviderView(WireModel):
    """A national database (*CSDL quốc gia*) as the gateway routes to it."""

    name: str = Field(examples=["population"])
    base_url: str = Field(examples=["http://127.0.0.1:8101"])
    timeouts: TimeoutsView
    operations: list[OperationView]


class ConsumerView(WireModel):
    """A consumer (*HTTT giải quyết TTHC cấp tỉnh*), without its secret."""

    id: str = Field(examples=["onestop-thanh-hoa"])
    name: str
    province: str | None = Field(examples=["038"])
    client_id: str
    subscriptions: list[str] = Field(examples=[["population.*"]])
    daily_quota: int | None
    service_quotas: dict[str, int]


class RegistryView(WireModel):
    """The registry the gateway runs with; secrets are never shown."""

    providers: list[ProviderView]
    consumers: list[ConsumerView]


class QuotaEntry(WireModel):
    """One daily quota of one consumer: consumer-wide or for one service."""

    consumer: str = Field(examples=["onestop-thanh-hoa"])
    service: str | None = Field(description="None for the consumer-wide quota.")
    policy: str = Field(
        description="The name used in RateLimit headers.",
        examples=["daily", "daily-population.get_citizen"],
    )
    default_limit: int | None = Field(description="From the registry; None: no limit.")
    override: int | None = Field(description="Set at runtime through the admin API.")
    limit: int | None = Field(description="In force today (the override if any); None: no limit.")
    used: int = Field(ge=0)
    remaining: int | None = Field(description="None when there is no limit.")


class QuotaReport(WireModel):
    """Usage for the local calendar day (Asia/Ho_Chi_Minh), which resets at local midnight."""

    day: date
    timezone: str = "Asia/Ho_Chi_Minh"
    resets_in_s: int = Field(ge=1)
    items: list[QuotaEntry]


class QuotaLimitUpdate(WireModel):
    """A runtime limit; ``null`` removes the override and restores the registry's limit."""

    # JSON true/false or "5" are refused (400), not read as 1/0/5 — a stray false would
    # otherwise cut a province off for the day; 5.0 is the integer 5, as JSON Schema says.
    limit: WireCount | None = Field(examples=[50000])


class ProviderHealth(WireModel):
    status: Literal["up", "down"]
    status_code: int | None = None
    latency_ms: float | None = None
    detail: str | None = None


class HealthReport(WireModel):
    """The gateway and, through it, each national database's ``/healthz``."""

    status: Literal["ok", "degraded"]
    providers: dict[str, ProviderHealth]
    exchange_log_dropped: int = Field(ge=0, description="Records the log could not keep.")


class GatewayHealth(WireModel):
    status: Literal["ok"] = "ok"


class ScenarioSummary(WireModel):
    """One scenario of the catalogue (``scenarios/<id>.yaml``)."""

    id: str = Field(examples=["reported-2024"])
    title: str
    failure_modes: list[str] = Field(description="FM-xx codes of REPORTS.md its rules reproduce.")
    rules: int = Field(ge=0)
    source: list[str] = Field(description="The report rows it cites.")


# Kept with the run's record (64-bit); 2**53 - 1, so that a client comparing JSON numbers as
# doubles agrees with the bound (2**63 - 1 + 192 compared equal to 2**63 - 1).
Seed = Annotated[int, Field(ge=0, le=2**53 - 1), INTEGER_ONLY]


class ScenarioSwitch(WireModel):
    """Switch every mock national database to a scenario of the catalogue, at once."""

    name: str = Field(examples=["reported-2024"], description="A scenario id (file name).")
    seed: Seed | None = Field(
        default=None, description="Overrides the file's seed: same seed, same faults."
    )
    at: IsoDatetime | None = Field(
        default=None,
        description="Start the mocks' fault clock at this local time (maintenance windows, "
        "time-of-day matches); omitted: the real time.",
        examples=["2024-06-04T09:00:00+07:00"],
    )


class ClockUpdate(WireModel):
    """Shift the mocks' fault clock without switching scenario (``null``: the real time)."""

    at: IsoDatetime | None = Field(examples=["2024-06-04T09:00:00+07:00"])


class Run(WireModel):
    """A run: the time one scenario was in force, from its switch to the next one."""

    run_id: str = Field(examples=["20241203T020000-reported-2024-1a2b"])
    scenario: str
    title: str
    seed: int
    started_at: AwareDatetime
    ended_at: AwareDatetime | None = Field(description="None while the run is current.")
    clock_at: AwareDatetime | None = Field(description="The fault clock's start, if shifted.")
    failure_modes: list[str]
    document: dict[str, Any] = Field(
        description="The scenario as applied (rules, sources): a report reads it to tie "
        "each injected fault to its failure mode and report rows."
    )


class RunList(WireModel):
    items: list[Run] = Field(description="Newest first.")


class ProviderScenario(WireModel):
    """What one mock says it runs: scenario id, clock, and faults injected per rule."""

    scenario: str | None
    clock: str | None = None
    rules: list[dict[str, Any]] = Field(default_factory=list)
    detail: str | None = Field(default=None, description="Why the mock could not be read.")


class ScenarioStatus(WireModel):
    run: Run | None = Field(description="The current run; None before the first switch.")
    providers: dict[str, ProviderScenario]
