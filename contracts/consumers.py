"""Wire models of onboarding at runtime (``/admin/consumers``): register, approve, rotate, suspend.

A consumer's life: registered (``pending``, no credentials) → approved (``active``: a client
secret is issued and its connection kit can be downloaded) → its secret rotated (the old one
stays valid for a grace period) → ``suspended`` (and back) or ``revoked`` (for good). A
sandbox window (*khung giờ thử nghiệm*) optionally limits when it may call: the reports tell
of provinces allowed to test only outside office hours (Appendix V, row 27).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, field_validator

from contracts.catalogue import OPERATIONS
from contracts.common import WireCount, WireInt, WireModel

ConsumerStatus = Literal["pending", "active", "suspended", "revoked"]
_TIME = r"^([01]\d|2[0-3]):[0-5]\d$|^24:00$"
# The services a consumer can name (the gateway refuses any other with 400 invalid_request),
# as enums so that the contract lists every valid value.
SERVICE_NAMES = sorted(f"{op.provider}.{op.operation_id}" for op in OPERATIONS)
ServiceName = Annotated[
    str, Field(description="<provider>.<operation id>", json_schema_extra={"enum": SERVICE_NAMES})
]
# A daily quota is set on a counter: a v2 operation draws on its v1's (``quota_service``), so
# only services with their own counter can carry one.
COUNTED_SERVICE_NAMES = sorted(
    f"{op.provider}.{op.operation_id}" for op in OPERATIONS if op.quota_service is None
)
CountedServiceName = Annotated[
    str,
    Field(
        description="<provider>.<operation id> of a service with its own daily counter (a v2 "
        "operation counts against its v1: set the quota there)",
        json_schema_extra={"enum": COUNTED_SERVICE_NAMES},
    ),
]
Subscription = Annotated[
    str,
    Field(
        description="A service, or <provider>.* for all of a provider's.",
        json_schema_extra={
            "enum": sorted({f"{op.provider}.*" for op in OPERATIONS}) + SERVICE_NAMES
        },
    ),
]
Weekday = Annotated[int, Field(ge=1, le=7)]


class SandboxRule(WireModel):
    """Calls are allowed on ``days`` from ``start`` to ``end`` local time (Asia/Ho_Chi_Minh).

    ``start`` after ``end`` wraps over midnight within the same day's rule: 17:30–07:30 on a
    Monday allows Monday 00:00–07:30 and Monday 17:30–24:00.
    """

    days: list[Weekday] = Field(
        min_length=1,
        max_length=7,
        description="Distinct ISO weekdays, 1 = Monday … 7 = Sunday.",
        json_schema_extra={"uniqueItems": True},
    )
    start: str = Field(pattern=_TIME, examples=["17:30"])
    end: str = Field(pattern=_TIME, examples=["07:30"])

    @field_validator("days")
    @classmethod
    def _weekdays(cls, days: list[int]) -> list[int]:
        if any(not 1 <= d <= 7 for d in days) or len(set(days)) != len(days):
            raise ValueError("days must be distinct ISO weekdays 1..7")
        return days


class SandboxWindow(WireModel):
    """When a consumer may call; outside, calls are refused with 403 ``sandbox_window_closed``."""

    description: str = Field(examples=["outside office hours"])
    rules: list[SandboxRule] = Field(min_length=1)


OUTSIDE_OFFICE_HOURS = SandboxWindow(
    description="outside office hours (Mon–Fri before 07:30 and after 17:30, all weekend)",
    rules=[
        SandboxRule(days=[1, 2, 3, 4, 5], start="17:30", end="07:30"),
        SandboxRule(days=[6, 7], start="00:00", end="24:00"),
    ],
)


class ConsumerRegistration(WireModel):
    """A new consumer, registered ``pending``: no credentials until it is approved."""

    id: str = Field(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", examples=["lgsp-thanh-hoa"])
    name: str = Field(min_length=1, examples=["LGSP tỉnh Thanh Hóa"])
    province: str | None = Field(default=None, pattern=r"^\d{3}$", examples=["038"])
    subscriptions: list[Subscription] = Field(default_factory=list, examples=[["population.*"]])
    daily_quota: WireCount | None = None
    service_quotas: dict[CountedServiceName, WireCount] = Field(default_factory=dict)
    sandbox_window: SandboxWindow | None = None


class ConsumerRecord(WireModel):
    """A consumer as the gateway holds it (never its secret)."""

    id: str
    name: str
    province: str | None
    client_id: str
    status: ConsumerStatus
    source: Literal["registry", "runtime"] = Field(
        description="registry: seeded from the YAML registry; runtime: registered here."
    )
    subscriptions: list[str]
    daily_quota: int | None
    service_quotas: dict[str, int]
    sandbox_window: SandboxWindow | None
    secret_issued_at: AwareDatetime | None
    previous_secret_valid_until: AwareDatetime | None = Field(
        description="After a rotation, until when the old secret is still accepted."
    )


class ConsumerList(WireModel):
    items: list[ConsumerRecord]


class IssuedCredentials(WireModel):
    """Credentials issued by an approval or a rotation; the kit carries them too."""

    consumer: ConsumerRecord
    client_id: str
    client_secret: str = Field(description="Hand it over with the kit; keep it out of chats.")


class SecretRotation(WireModel):
    grace_s: WireInt = Field(
        default=3600, ge=0, le=30 * 86400, description="How long the old secret stays valid."
    )


class SubscriptionsUpdate(WireModel):
    subscriptions: list[Subscription] = Field(
        examples=[["population.get_citizen", "civil-registry.*"]]
    )


class SandboxWindowUpdate(WireModel):
    """``null`` lifts the window: calls allowed at any time."""

    sandbox_window: SandboxWindow | None
