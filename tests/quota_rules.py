"""The quota rules the quota tests share: Thanh Hóa's daily cap and its population-lookup cap,
on one fixed local day."""

from __future__ import annotations

from datetime import date

from gateway.quotas import QuotaRule

DAY = date(2025, 3, 14)
CONSUMER = QuotaRule(key="onestop-thanh-hoa", policy="daily", limit=5)
SERVICE = QuotaRule(
    key="onestop-thanh-hoa|population.get_citizen",
    policy="daily-population.get_citizen",
    limit=3,
)

__all__ = ["CONSUMER", "DAY", "SERVICE"]
