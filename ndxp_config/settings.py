"""One typed ``Settings`` for every process of the simulator.

Read from the environment with the ``NDXP_`` prefix (nested fields with ``__``, e.g.
``NDXP_GATEWAY__PORT=9000``) by :func:`get_settings` — never at import time. All state lives
under ``state_dir``. Insecure defaults (the dev signing key, the dev admin token) are accepted
only in ``mode="dev"``, the documented default for a laptop; ``mode="prod"`` refuses them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEV_JWT_SECRET = "ndxp-sim-dev-signing-key-not-for-production-use"
DEV_ADMIN_TOKEN = "ndxp-dev-admin"

MockName = Literal[
    "population", "business-registry", "driver-licence", "civil-registry", "judicial-records"
]
MOCK_NAMES: tuple[MockName, ...] = (
    "population",
    "business-registry",
    "driver-licence",
    "civil-registry",
    "judicial-records",
)


class MockSettings(BaseModel):
    """The five mock national databases (*CSDL quốc gia*)."""

    host: str = "127.0.0.1"
    ports: dict[MockName, int] = Field(
        default_factory=lambda: {  # type: ignore[arg-type]  # literal keys widen to str
            "population": 8101,
            "business-registry": 8102,
            "driver-licence": 8103,
            "civil-registry": 8104,
            "judicial-records": 8105,
        }
    )
    urls: dict[MockName, str] = Field(
        default_factory=dict,
        description="Where other processes reach each mock, when not at host:port "
        '(e.g. {"population": "http://population:8101"} between containers).',
    )
    seed: int = Field(default=2024, description="Same seed, same bytes: the data generator's key.")
    lifecycle_minute_s: float = Field(
        default=60.0,
        gt=0,
        description="Wall-clock seconds per simulated minute of civil-registry and "
        "judicial-records processing; "
        "lower it to watch dossiers move through their lifecycle faster.",
    )

    @model_validator(mode="before")
    @classmethod
    def _time_scale_moved(cls, data: Any) -> Any:
        if isinstance(data, dict) and "fault_time_scale" in data:
            raise ValueError(
                "mocks.fault_time_scale is now time_scale (NDXP_TIME_SCALE): one scale for the "
                "fault waits and the gateway's timeouts together"
            )
        return data

    def url(self, name: MockName) -> str:
        if name in self.urls:
            return self.urls[name].rstrip("/")
        return f"http://{self.host}:{self.ports[name]}"


class JournalSettings(BaseModel):
    """The exchange journal (``gateway/journal.py``): each record on disk before its answer.

    Files live under ``state_dir/journal``, one journal per gateway process.
    """

    model_config = ConfigDict(frozen=True)

    max_bytes: int = Field(
        default=256 << 20,
        gt=0,
        description="Journal bytes on disk per gateway process (records waiting for the store); "
        "a record beyond it is dropped and counted in ndxp_exchange_log_dropped_total.",
    )
    segment_bytes: int = Field(
        default=1 << 20,
        gt=0,
        description="Segment size: stored segments are deleted whole, so a crash replays at "
        "most this much already-stored data (harmless: stores skip known exchange ids).",
    )
    max_pending: int = Field(
        default=10_000,
        gt=0,
        description="Records also kept in memory for the drainer; beyond, it reads them back.",
    )
    batch_size: int = Field(default=500, gt=0, description="Records per store write.")
    flush_interval_s: float = Field(
        default=0.05, gt=0, description="The drainer wakes at least this often."
    )
    orphan_scan_interval_s: float = Field(
        default=5.0, gt=0, description="How often to look for journals of dead processes."
    )
    close_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="On shutdown, how long to wait for the store; the rest stays in the "
        "journal and is replayed at the next start.",
    )
    fsync: bool = Field(
        default=False,
        description="fdatasync after every record: survives a power cut too, at the price of "
        "one disk flush per exchange.",
    )


class GatewaySettings(BaseModel):
    """The NDXP gateway (*Nền tảng tích hợp, chia sẻ dữ liệu quốc gia*)."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = Field(default=1, ge=1)
    registry_path: Path | None = Field(
        default=None, description="Registry YAML; None means the shipped default registry."
    )
    jwt_secret: SecretStr = SecretStr(DEV_JWT_SECRET)
    token_ttl_s: int = Field(default=300, gt=0)
    admin_token: SecretStr = SecretStr(DEV_ADMIN_TOKEN)
    quota_store_url: str | None = Field(
        default=None,
        description="None: SQLite under state_dir; sqlite:///<path>; or redis://host:port/db "
        "(shared by several gateway instances).",
    )
    quota_failure_policy: Literal["closed", "open"] = Field(
        default="closed",
        description="When the quota store cannot be reached: closed answers 503 "
        "quota_unavailable; open admits and counts the admission in ndxp_quota_unmetered_total.",
    )
    exchange_log_url: str | None = Field(
        default=None,
        description="None: SQLite under state_dir; sqlite:///<path>; or postgresql://... "
        "(shared by several gateway instances).",
    )
    max_request_bytes: int = Field(
        default=1_048_576, gt=0, description="Larger request bodies get 413 payload_too_large."
    )
    max_head_bytes: int = Field(
        default=32_768,
        gt=0,
        description="Request line plus header fields; more is 431 request_header_fields_too_large.",
    )
    max_header_count: int = Field(
        default=100, gt=0, description="Header fields per request; more is 431."
    )
    header_timeout_s: float = Field(
        default=10.0, gt=0, description="Deadline for a request head; then 408 request_timeout."
    )
    body_timeout_s: float = Field(
        default=30.0, gt=0, description="Deadline for a request body after its head; then 408."
    )
    journal: JournalSettings = Field(default_factory=JournalSettings)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class HopSettings(BaseModel):
    """A route's hop in front of the gateway (``hops/``): the provincial LGSP or VDXP."""

    host: str = "127.0.0.1"
    port: int = 8201
    public_url: str | None = Field(
        default=None,
        description="Where callers reach it, when not at host:port (between containers).",
    )
    gateway_url: str | None = Field(
        default=None, description="Where it reaches the NDXP gateway; None: gateway.url."
    )
    timeout_s: float = Field(
        default=40.0,
        gt=0,
        description="How long it waits for the gateway's answer (x NDXP_TIME_SCALE); longer "
        "than the gateway's own 35 s total so the gateway's 504 reaches the province.",
    )

    @property
    def url(self) -> str:
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")


class VdxpSettings(HopSettings):
    """VDXP (*trục liên thông văn bản quốc gia*) as an X-Road-style route speaking PR-REST."""

    port: int = 8202
    instance: str = Field(default="VN", description="The X-Road instance of /r1/{instance}/...")
    error_spelling: Literal["7.7", "7.8"] = Field(
        default="7.8",
        description='X-Road error codes as up to 7.7 ("Server.ServerProxy.AccessDenied") or '
        'from 7.8 ("server.serverproxy.access_denied").',
    )


RouteName = Literal["direct", "lgsp", "vdxp"]


_PROVINCE_ROUTES: dict[str, RouteName] = {"080": "direct", "002": "vdxp"}


class RouteSettings(BaseModel):
    """Which way each province's one-stop system reaches NDXP (FM-10, rows 2, 43-49, 87).

    ``direct`` is the 1:1 connection the guidance prescribes; ``lgsp`` goes through the
    province's LGSP, as most provinces run; ``vdxp`` through the X-Road-style VDXP route.
    """

    default: RouteName = "lgsp"
    provinces: dict[str, RouteName] = Field(
        # Long An connects 1:1 as the guidance prescribes (row 2); Hà Giang's documents send
        # it through VDXP (row 87).
        default_factory=lambda: dict(_PROVINCE_ROUTES),
        description="Per province code, the provinces not on the default route.",
    )

    def of(self, province: str | None) -> RouteName:
        return self.provinces.get(province or "", self.default)


class LiveSettings(BaseModel):
    """The trainers' live view (``ndxp-sim serve-live``): a page fed by finished exchanges."""

    host: str = "127.0.0.1"
    port: int = 8090
    feed: str | None = Field(
        default=None,
        description="Unix datagram socket path: the live view binds it, every gateway worker "
        "sends each finished exchange record to it (never blocking; dropped and counted in "
        "ndxp_live_feed_dropped_total when nobody reads). None: the gateway sends nothing; "
        "`ndxp-sim up` sets it.",
    )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"


class Settings(BaseSettings):
    """Everything configurable, for every process; build it with :func:`get_settings`."""

    model_config = SettingsConfigDict(env_prefix="NDXP_", env_nested_delimiter="__", extra="forbid")

    mode: Literal["dev", "prod"] = "dev"
    state_dir: Path = Path(".ndxp")
    scenarios_dir: Path | None = Field(
        default=None, description="Scenario YAML files; None means the shipped scenarios/."
    )
    mocks: MockSettings = Field(default_factory=MockSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)
    live: LiveSettings = Field(default_factory=LiveSettings)
    lgsp: HopSettings = Field(
        default_factory=HopSettings,
        description="The provincial LGSP (*nền tảng tích hợp, chia sẻ dữ liệu cấp tỉnh*).",
    )
    vdxp: VdxpSettings = Field(default_factory=VdxpSettings)
    routes: RouteSettings = Field(default_factory=RouteSettings)
    time_scale: float = Field(
        default=1.0,
        gt=0,
        description="One time scale for the whole simulation: multiplies every wait the fault "
        "engine injects (latency, hangs, overload service time) and every timeout the gateway "
        "gives a national database, so at 0.05 a 120 s hang lasts 6 s and the 30 s read "
        "timeout 1.5 s — what times out at 1 still times out (a demo, a test).",
    )

    @model_validator(mode="after")
    def _refuse_insecure_defaults_outside_dev(self) -> Settings:
        if self.mode == "prod":
            if self.gateway.jwt_secret.get_secret_value() == DEV_JWT_SECRET:
                raise ValueError("gateway.jwt_secret: the dev signing key is refused in prod mode")
            if self.gateway.admin_token.get_secret_value() == DEV_ADMIN_TOKEN:
                raise ValueError("gateway.admin_token: the dev admin token is refused in prod mode")
        return self


def get_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, with keyword overrides on top (tests use these)."""
    return Settings(**overrides)
