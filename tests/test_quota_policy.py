"""The failure policy: Redis down → 503 quota_unavailable (closed) or admitted unmetered (open).

The store is a real SQLite store behind a switch that makes it fail as a networked store does
(:class:`QuotaStoreUnavailable`); through the app, the quota store is Redis on a port where
nothing listens.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from pathlib import Path

import httpx
import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs

from contracts.headers import ERROR_HEADER
from gateway.errors import QuotaUnavailable
from gateway.exchange_log import ExchangeQuery
from gateway.quota_policy import UNMETERED, GuardedQuotaStore
from gateway.quotas import QuotaDecision, QuotaRule, QuotaStoreUnavailable, SqliteQuotaStore
from gateway.testing import (
    admin_headers,
    bearer,
    free_port,
    gateway_settings,
    running_gateway,
    small_registry,
)

DAY = date(2025, 3, 14)
RULES = [
    QuotaRule(key="onestop-hue", policy="daily", limit=5),
    QuotaRule(key="onestop-hue|population.get_citizen", policy="daily-p", limit=5),
]
CITIZEN = "/population/v1/citizens/038090001234"


class SwitchableStore(SqliteQuotaStore):
    """A SQLite store that fails like an unreachable Redis while ``down`` is set."""

    down = False

    async def acquire(self, rules: Sequence[QuotaRule], day: date) -> QuotaDecision:
        if self.down:
            raise QuotaStoreUnavailable("redis: Connection refused")
        return await super().acquire(rules, day)

    async def usage(self, day: date) -> dict[str, int]:
        if self.down:
            raise QuotaStoreUnavailable("redis: Connection refused")
        return await super().usage(day)


@pytest.fixture
async def inner(tmp_path: Path) -> SwitchableStore:
    return SwitchableStore(tmp_path / "quotas.db")


async def test_closed_policy_refuses_with_503_quota_unavailable(inner: SwitchableStore) -> None:
    unmetered: list[Sequence[QuotaRule]] = []
    guarded = GuardedQuotaStore(inner, "closed", unmetered.append)
    inner.down = True
    with pytest.raises(QuotaUnavailable) as raised:
        await guarded.acquire(RULES, DAY)
    assert (raised.value.status_code, raised.value.code) == (503, "quota_unavailable")
    assert raised.value.response_headers()["Retry-After"] == "1"
    assert unmetered == []
    await guarded.close()


async def test_open_policy_admits_unmetered_and_reports_each_admission(
    inner: SwitchableStore,
) -> None:
    unmetered: list[Sequence[QuotaRule]] = []
    guarded = GuardedQuotaStore(inner, "open", unmetered.append)
    inner.down = True
    decisions = [await guarded.acquire(RULES, DAY) for _ in range(3)]
    assert decisions == [UNMETERED] * 3
    assert unmetered == [RULES] * 3
    inner.down = False
    assert await guarded.usage(DAY) == {}  # nothing was counted while it was down
    await guarded.close()


async def test_admin_reads_refuse_under_either_policy(inner: SwitchableStore) -> None:
    for policy in ("closed", "open"):
        guarded = GuardedQuotaStore(inner, policy)  # type: ignore[arg-type]
        inner.down = True
        with pytest.raises(QuotaUnavailable):
            await guarded.usage(DAY)
    await inner.close()


async def test_counting_resumes_when_the_store_returns_and_both_edges_are_logged(
    inner: SwitchableStore,
) -> None:
    guarded = GuardedQuotaStore(inner, "closed")
    assert (await guarded.acquire(RULES, DAY)).admitted
    with capture_logs() as logs:
        inner.down = True
        for _ in range(3):
            with pytest.raises(QuotaUnavailable):
                await guarded.acquire(RULES, DAY)
        inner.down = False
        decision = await guarded.acquire(RULES, DAY)
    assert decision.states[0].used == 2
    assert [entry["event"] for entry in logs] == [
        "quota_store_unavailable",
        "quota_store_recovered",
    ]
    await guarded.close()


def test_an_unknown_policy_is_refused(inner: SwitchableStore) -> None:
    with pytest.raises(ValueError, match="closed or open"):
        GuardedQuotaStore(inner, "maybe")  # type: ignore[arg-type]


# --- through the gateway -----------------------------------------------------------------


def upstream() -> dict[str, httpx.AsyncBaseTransport]:
    ok = httpx.MockTransport(lambda _: httpx.Response(200, json={"loc": [], "msg": "", "type": ""}))
    return {"population": ok, "civil-registry": ok}


@pytest.mark.parametrize("policy", ["closed", "open"])
async def test_gateway_with_redis_down_applies_the_policy_and_logs_every_exchange(
    tmp_path: Path, policy: str
) -> None:
    settings = gateway_settings(
        tmp_path / "state",
        small_registry(service_quotas={"population.get_citizen": 1}),
        quota_store_url=f"redis://127.0.0.1:{free_port()}/0",
        quota_failure_policy=policy,
    )
    metrics = CollectorRegistry()
    async with running_gateway(settings, upstream(), metrics=metrics) as (app, client):
        headers = await bearer(client)
        answers = [await client.get(CITIZEN, headers=headers) for _ in range(3)]
        scrape = await client.get("/metrics")
        admin = await client.get("/admin/quotas", headers=admin_headers())
        await app.state.runtime.log.flush()
        page = await app.state.runtime.log.query(ExchangeQuery(service="population.get_citizen"))

    unmetered = metrics.get_sample_value(
        "ndxp_quota_unmetered_total",
        {"consumer": "onestop-thanh-hoa", "service": "population.get_citizen"},
    )
    if policy == "closed":
        assert [a.status_code for a in answers] == [503] * 3
        assert answers[0].json()["code"] == "quota_unavailable"
        assert answers[0].headers[ERROR_HEADER] == "quota_unavailable"
        assert [r.outcome for r in page.items] == ["quota_unavailable"] * 3
        assert unmetered is None
    else:
        # The limit of 1 could not be checked: all three went through, each one counted.
        assert [a.status_code for a in answers] == [200] * 3
        assert "ratelimit" not in answers[0].headers
        assert [r.outcome for r in page.items] == ["ok"] * 3
        assert unmetered == 3
    assert scrape.status_code == 200  # the scrape goes on without the quota gauges
    assert "ndxp_quota_used{" not in scrape.text
    assert admin.status_code == 503
    assert admin.json()["code"] == "quota_unavailable"
    assert page.total == 3  # the calls, each logged (the admin refusal is logged apart)
