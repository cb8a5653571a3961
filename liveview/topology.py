"""What the page draws: the 63 provinces' one-stop systems, the NDXP gateway and each national
database, read from the registry the gateway itself loads, plus the names the page shows.

The LGSP hop (*Nền tảng tích hợp, chia sẻ dữ liệu cấp tỉnh*) between a province and NDXP is
drawn only for provinces whose registry consumer names one (``lgsp``, none in the shipped
registry yet): the page adds the column when the list is not empty.
"""

from __future__ import annotations

from typing import Any

from connectors.provinces import FLOW_NAMES
from contracts.provinces import PROVINCES
from gateway.registry import load_registry
from ndxp_config.settings import Settings
from ndxp_sim.demo import DATABASES, MEANINGS, TITLES
from ndxp_sim.failure_modes import FAILURE_MODES

# Vietnamese names of the national databases (English ones: ndxp_sim.demo.DATABASES).
DATABASES_VI = {
    "population": "CSDLQG về dân cư",
    "business-registry": "CSDLQG về đăng ký doanh nghiệp",
    "driver-licence": "CSDL giấy phép lái xe",
    "civil-registry": "Hệ thống hộ tịch",
    "judicial-records": "CSDL lý lịch tư pháp",
}


def _split(title: str) -> tuple[str, str]:
    """``"English (tiếng Việt)"`` → both halves (the demo's titles are written so)."""
    english, _, vietnamese = title.partition(" (")
    return english, vietnamese.rstrip(")") or english


def topology(settings: Settings) -> dict[str, Any]:
    """The page's static description of the platform (no secrets)."""
    registry = load_registry(settings)
    names = {p.code: p.name for p in PROVINCES}
    provinces = []
    lgsp: dict[str, str] = {}
    for consumer in registry.consumers:
        code = consumer.province
        if code is None or code not in names:
            continue
        provinces.append({"code": code, "name": names[code], "consumer": consumer.id})
        via = getattr(consumer, "lgsp", None)  # the fidelity issue's hop, once it exists
        if via:
            lgsp[code] = str(via)
    provinces.sort(key=lambda p: p["code"])
    databases = []
    for provider in registry.providers:
        english = _split(DATABASES.get(provider.name, provider.name))[0]
        vietnamese = DATABASES_VI.get(provider.name, provider.name)
        databases.append({"name": provider.name, "en": english, "vi": vietnamese})
    flows = []
    for flow in FLOW_NAMES:
        english, vietnamese = _split(TITLES[flow])
        flows.append({"id": flow, "en": english, "vi": vietnamese})
    return {
        "provinces": provinces,
        "databases": databases,
        "lgsp": lgsp,
        "flows": flows,
        "failure_modes": {fm.id: fm.title for fm in FAILURE_MODES.values()},
        "meanings": MEANINGS,
    }


__all__ = ["DATABASES_VI", "topology"]
