"""The 63 mock provincial one-stop systems (*HTTT giải quyết TTHC cấp tỉnh*) and how much each
one calls NDXP.

A :class:`OneStopSystem` is a province plus the credentials the gateway knows it by and its
route to NDXP (:mod:`connectors.routes`: direct, via the LGSP, via VDXP). Credentials come
from the registry the gateway itself loads (:func:`gateway.registry.load_registry`: the shipped
``gateway/registry.default.yaml`` or ``NDXP_GATEWAY__REGISTRY_PATH``), so a province's
connector and the gateway can never disagree on a secret.

Default volumes — flows per working day, nationally, scaled from the reports (REPORTS.md and
``research/seeds-extract.md`` §5); the traffic runner turns them into a mix (shares) and a
rate:

- ``birth_registration`` **4,760**: 618,746 linked birth dossiers were added between 12/2023
  and mid-2024 (1,052,261 in all), about 130 working days.
- ``household_verification`` **6,350**: the reports give no count of household verifications
  (the population database's 1.6 billion lookups serve every caller); we take one per linked
  birth or death dossier (4,760 + 1,590 a day: 206,954 deaths in the same 130 days), since the
  linked procedures register permanent residence and health insurance with the household.
- ``business_sync`` **2,024**: the business-registration mock finishes 4,000 enterprise,
  6,000 household-business and 120 cooperative dossiers a working day; a sync run fetches
  one page of five.
- ``licence_renewal`` **1,200**: the driver-licence mock's renewal rate (over 350,000 renewal
  dossiers received by 20/6/2024).
- ``criminal_record_certificate`` **1,000**: an assumption — the reports name the judicial-
  records system seven times (rows 16, 32, 42, 54, 62, 67, 69) but give no count of
  certificates; we take about a quarter of a million a year through provincial counters.

The default rate spreads those 15,334 runs over an 8-hour office day: 0.5 flows a second.
Provinces are drawn in proportion to their population (the mocks weight their volumes the
same way), so Hà Nội and Hồ Chí Minh call most and Bắc Kạn least.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from connectors.routes import Route, route_of
from contracts.provinces import PROVINCES, Province, find_province
from gateway.registry import load_registry
from ndxp_config.settings import Settings

FlowName = Literal[
    "licence_renewal",
    "birth_registration",
    "business_sync",
    "household_verification",
    "criminal_record_certificate",
]
FLOW_NAMES: tuple[FlowName, ...] = (
    "licence_renewal",
    "birth_registration",
    "business_sync",
    "household_verification",
    "criminal_record_certificate",
)
DAILY_FLOWS: Mapping[FlowName, float] = {
    "birth_registration": 4_760.0,
    "household_verification": 6_350.0,
    "business_sync": 2_024.0,
    "licence_renewal": 1_200.0,
    "criminal_record_certificate": 1_000.0,
}
OFFICE_DAY_S = 8 * 3600
DEFAULT_RATE = round(sum(DAILY_FLOWS.values()) / OFFICE_DAY_S, 1)  # 0.5 flows a second


@dataclass(frozen=True, slots=True)
class OneStopSystem:
    """A province's one-stop system as the gateway knows it: province, consumer, credentials."""

    province: Province
    consumer_id: str
    client_id: str
    client_secret: str
    route: Route | None = None  # how it reaches NDXP (connectors.routes); None: direct

    @property
    def label(self) -> str:
        """How the narration names it, e.g. ``Thanh Hóa one-stop system``."""
        return f"{self.province.name} one-stop system"


class UnknownProvince(LookupError):
    """No province, or no consumer in the registry for it."""


def one_stop_systems(settings: Settings) -> dict[str, OneStopSystem]:
    """Every registry consumer that belongs to a province, by province code (63 by default)."""
    by_code = {p.code: p for p in PROVINCES}
    systems: dict[str, OneStopSystem] = {}
    for consumer in load_registry(settings).consumers:
        province = by_code.get(consumer.province or "")
        if province is None or province.code in systems:
            continue
        systems[province.code] = OneStopSystem(
            province=province,
            consumer_id=consumer.id,
            client_id=consumer.client_id,
            client_secret=consumer.client_secret.get_secret_value(),
            route=route_of(settings, province.code),
        )
    return systems


def find_system(settings: Settings, name: str) -> OneStopSystem:
    """The one-stop system of a province named with or without diacritics, or by code.

    ``"Thanh Hóa"``, ``"thanh hoa"``, ``"thanh-hoa"`` and ``"038"`` all find Thanh Hóa's.
    """
    province = find_province(name)
    if province is None:
        raise UnknownProvince(f"no province matches {name!r}")
    system = one_stop_systems(settings).get(province.code)
    if system is None:
        raise UnknownProvince(f"the registry has no one-stop system for {province.full_name}")
    return system


@dataclass(frozen=True)
class Mix:
    """Shares of each flow (any positive weights; normalised when drawing)."""

    weights: Mapping[FlowName, float]

    @classmethod
    def default(cls) -> Mix:
        return cls(dict(DAILY_FLOWS))

    @classmethod
    def parse(cls, text: str) -> Mix:
        """``"licence_renewal=1,birth_registration=2"`` (other flows: 0); ``""``: the default."""
        if not text.strip():
            return cls.default()
        weights: dict[FlowName, float] = {}
        for part in text.split(","):
            name, _, value = part.partition("=")
            name = name.strip().replace("-", "_")
            if name not in FLOW_NAMES:
                raise ValueError(f"unknown flow {name!r}; choose from {', '.join(FLOW_NAMES)}")
            weights[name] = float(value) if value.strip() else 1.0
        return cls(weights)

    def __post_init__(self) -> None:
        if any(w < 0 for w in self.weights.values()) or not any(self.weights.values()):
            raise ValueError("a mix needs non-negative weights, at least one positive")

    def draw(self, rng: random.Random) -> FlowName:
        names = [n for n in FLOW_NAMES if self.weights.get(n, 0) > 0]
        return rng.choices(names, weights=[self.weights[n] for n in names])[0]


def draw_system(rng: random.Random, systems: Mapping[str, OneStopSystem]) -> OneStopSystem:
    """A one-stop system, drawn in proportion to its province's population."""
    chosen = list(systems.values())
    return rng.choices(chosen, weights=[s.province.population_k for s in chosen])[0]


__all__ = [
    "DAILY_FLOWS",
    "DEFAULT_RATE",
    "FLOW_NAMES",
    "FlowName",
    "Mix",
    "OneStopSystem",
    "UnknownProvince",
    "draw_system",
    "find_system",
    "one_stop_systems",
]
