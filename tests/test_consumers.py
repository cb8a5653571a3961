"""Onboarding at runtime: register → approve → rotate → suspend / revoke; subscriptions and the
sandbox window changed in place; all persisted in the gateway's store, the YAML the seed."""

from __future__ import annotations

import io
import zipfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from contracts.consumers import OUTSIDE_OFFICE_HOURS
from gateway.consumers import ConsumerDirectory, seconds_until_open, window_open
from gateway.testing import (
    THANH_HOA,
    admin_headers,
    bearer,
    gateway_settings,
    running_gateway,
    small_registry,
)
from ndxp_config.settings import Settings

ADMIN = admin_headers()
CITIZEN = "/population/v1/citizens/038090001234"
NEW_ID = "lgsp-thanh-hoa"
NEW: dict[str, object] = {
    "id": NEW_ID,
    "name": "LGSP tỉnh Thanh Hóa",
    "province": "038",
    "subscriptions": ["population.get_citizen"],
}


class Clock:
    """A settable clock for the sandbox window (local Tuesday 10:00 by default)."""

    def __init__(self) -> None:
        self.now = datetime(2024, 6, 4, 3, 0, tzinfo=UTC)  # 10:00 in Vietnam, a Tuesday

    def __call__(self) -> datetime:
        return self.now


def _upstream(request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, json={"loc": ["x"], "msg": "ok", "type": "t"})


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return gateway_settings(tmp_path / "state", small_registry())


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def gateway(
    settings: Settings, clock: Clock
) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    transport = httpx.MockTransport(_upstream)
    async with running_gateway(
        settings, {"population": transport, "civil-registry": transport}, clock=clock
    ) as pair:
        yield pair


async def _token(client: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    return await client.post(
        "/oauth2/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )


async def _call_as(client: httpx.AsyncClient, client_id: str, secret: str) -> httpx.Response:
    token = await _token(client, client_id, secret)
    assert token.status_code == 200, token.text
    auth = {"Authorization": f"Bearer {token.json()['access_token']}"}
    return await client.get(CITIZEN, headers=auth)


async def _onboard(client: httpx.AsyncClient) -> str:
    registered = await client.post("/admin/consumers", json=NEW, headers=ADMIN)
    assert registered.status_code == 201, registered.text
    approved = await client.post(f"/admin/consumers/{NEW_ID}/approve", headers=ADMIN)
    assert approved.status_code == 200, approved.text
    secret: str = approved.json()["client_secret"]
    return secret


async def test_a_registered_consumer_is_pending_without_credentials_or_kit(
    gateway: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gateway
    registered = await client.post("/admin/consumers", json=NEW, headers=ADMIN)
    assert registered.status_code == 201
    assert registered.json()["status"] == "pending"
    assert registered.json()["secret_issued_at"] is None
    kit = await client.get(f"/admin/consumers/{NEW_ID}/kit", headers=ADMIN)
    assert kit.status_code == 409
    assert kit.json()["code"] == "consumer_not_active"
    refused = await _token(client, NEW_ID, "")
    assert refused.status_code == 401


async def test_approval_issues_credentials_that_get_a_token_and_a_call(
    gateway: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gateway
    secret = await _onboard(client)
    answer = await _call_as(client, NEW_ID, secret)
    assert answer.status_code == 200, answer.text
    other = await client.get("/population/v1/citizens/verify", headers=await bearer(client))
    assert other.status_code != 403  # Thanh Hóa's one-stop system, seeded from the YAML


async def test_an_approved_consumers_kit_carries_its_issued_secret(
    gateway: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gateway
    secret = await _onboard(client)
    kit = await client.get(f"/admin/consumers/{NEW_ID}/kit", headers=ADMIN)
    assert kit.status_code == 200
    assert kit.headers["content-type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(kit.content))
    env = archive.read("ndxp-kit-lgsp-thanh-hoa/credentials.env").decode()
    assert f"NDXP_CLIENT_SECRET={secret}" in env
    names = archive.namelist()
    assert "ndxp-kit-lgsp-thanh-hoa/postman/collection.json" in names


async def test_a_rotated_secret_leaves_the_old_one_valid_for_the_grace_period(
    gateway: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gateway
    old = await _onboard(client)
    rotated = await client.post(
        f"/admin/consumers/{NEW_ID}/rotate-secret", json={"grace_s": 3600}, headers=ADMIN
    )
    assert rotated.status_code == 200
    new = rotated.json()["client_secret"]
    assert new != old
    assert rotated.json()["consumer"]["previous_secret_valid_until"] is not None
    assert (await _token(client, NEW_ID, old)).status_code == 200
    assert (await _token(client, NEW_ID, new)).status_code == 200
    again = await client.post(
        f"/admin/consumers/{NEW_ID}/rotate-secret", json={"grace_s": 0}, headers=ADMIN
    )
    newest = again.json()["client_secret"]
    assert (await _token(client, NEW_ID, new)).status_code == 401  # no grace this time
    assert (await _token(client, NEW_ID, newest)).status_code == 200


@pytest.mark.parametrize(
    ("action", "code"),
    [("suspend", "consumer_suspended"), ("revoke", "consumer_revoked")],
)
async def test_suspended_or_revoked_consumers_are_refused_with_a_code_that_says_so(
    gateway: tuple[FastAPI, httpx.AsyncClient], action: str, code: str
) -> None:
    _, client = gateway
    headers = await bearer(client)  # a token got before the change
    changed = await client.post(f"/admin/consumers/{THANH_HOA[0]}/{action}", headers=ADMIN)
    assert changed.status_code == 200, changed.text
    call = await client.get(CITIZEN, headers=headers)
    assert call.status_code == 401
    assert call.json()["code"] == code
    assert call.headers["X-NDXP-Error"] == code
    token = await _token(client, *THANH_HOA)
    assert (token.status_code, token.json()["code"]) == (401, code)


async def test_a_suspension_is_lifted_but_a_revocation_is_final(
    gateway: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gateway
    base = f"/admin/consumers/{THANH_HOA[0]}"
    await client.post(f"{base}/suspend", headers=ADMIN)
    assert (await client.post(f"{base}/reactivate", headers=ADMIN)).json()["status"] == "active"
    assert (await _call_as(client, *THANH_HOA)).status_code == 200
    await client.post(f"{base}/revoke", headers=ADMIN)
    again = await client.post(f"{base}/reactivate", headers=ADMIN)
    assert again.status_code == 409


async def test_subscriptions_change_at_runtime(gateway: tuple[FastAPI, httpx.AsyncClient]) -> None:
    _, client = gateway
    headers = await bearer(client)
    assert (await client.get(CITIZEN, headers=headers)).status_code == 200
    changed = await client.put(
        f"/admin/consumers/{THANH_HOA[0]}/subscriptions",
        json={"subscriptions": ["civil-registry.*"]},
        headers=ADMIN,
    )
    assert changed.status_code == 200
    refused = await client.get(CITIZEN, headers=headers)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    unknown = await client.put(
        f"/admin/consumers/{THANH_HOA[0]}/subscriptions",
        json={"subscriptions": ["nowhere.*"]},
        headers=ADMIN,
    )
    assert unknown.status_code == 400


async def test_a_sandbox_window_refuses_calls_in_office_hours_with_its_own_code(
    gateway: tuple[FastAPI, httpx.AsyncClient], clock: Clock
) -> None:
    _, client = gateway
    window = OUTSIDE_OFFICE_HOURS.model_dump(mode="json")
    await client.put(
        f"/admin/consumers/{THANH_HOA[0]}/sandbox-window",
        json={"sandbox_window": window},
        headers=ADMIN,
    )
    headers = await bearer(client)
    closed = await client.get(CITIZEN, headers=headers)
    assert (closed.status_code, closed.json()["code"]) == (403, "sandbox_window_closed")
    assert int(closed.headers["Retry-After"]) == 7 * 3600 + 30 * 60  # to 17:30 local
    clock.now = datetime(2024, 6, 4, 11, 0, tzinfo=UTC)  # 18:00 local
    assert (await client.get(CITIZEN, headers=headers)).status_code == 200


def test_office_hours_window_opens_evenings_and_weekends() -> None:
    def local(day: int, hour: int, minute: int = 0) -> datetime:
        return datetime(2024, 6, day, hour - 7, minute, tzinfo=UTC)  # June 2024: 3rd is Monday

    assert not window_open(OUTSIDE_OFFICE_HOURS, local(3, 9))
    assert window_open(OUTSIDE_OFFICE_HOURS, local(3, 7, 29))
    assert not window_open(OUTSIDE_OFFICE_HOURS, local(3, 7, 30))
    assert window_open(OUTSIDE_OFFICE_HOURS, local(3, 17, 30))
    assert window_open(OUTSIDE_OFFICE_HOURS, local(8, 12))  # Saturday
    assert seconds_until_open(OUTSIDE_OFFICE_HOURS, local(7, 17, 0)) == 30 * 60


async def test_runtime_changes_persist_across_restarts_and_the_yaml_stays_the_seed(
    settings: Settings, clock: Clock
) -> None:
    transport = httpx.MockTransport(_upstream)
    transports = {"population": transport, "civil-registry": transport}
    async with running_gateway(settings, transports, clock=clock) as (_, client):
        secret = await _onboard(client)
        await client.post(f"/admin/consumers/{THANH_HOA[0]}/suspend", headers=ADMIN)
    async with running_gateway(settings, transports, clock=clock) as (_, client):
        listed = (await client.get("/admin/consumers", headers=ADMIN)).json()["items"]
        by_id: dict[str, Any] = {c["id"]: c for c in listed}
        assert by_id[NEW_ID]["status"] == "active"
        assert by_id[THANH_HOA[0]]["status"] == "suspended"  # not reset by the YAML seed
        assert by_id["onestop-ha-noi"]["source"] == "registry"
        assert (await _call_as(client, NEW_ID, secret)).status_code == 200


def test_a_change_made_through_one_connection_is_seen_by_another(tmp_path: Path) -> None:
    """Two workers: each has its own connection to the same store."""
    registry = small_registry()
    first = ConsumerDirectory(tmp_path / "consumers.db", registry)
    second = ConsumerDirectory(tmp_path / "consumers.db", registry)
    try:
        assert second.require(THANH_HOA[0]).status == "active"
        first.set_status(THANH_HOA[0], "suspended")
        assert second.require(THANH_HOA[0]).status == "suspended"
    finally:
        first.close()
        second.close()


async def test_a_runtime_consumer_has_its_quotas_in_the_admin_api_and_metrics(
    gateway: tuple[FastAPI, httpx.AsyncClient],
) -> None:
    _, client = gateway
    secret = await _onboard(client)
    assert (await _call_as(client, NEW_ID, secret)).status_code == 200
    mine = await client.get("/admin/quotas", params={"consumer": NEW_ID}, headers=ADMIN)
    assert mine.status_code == 200, mine.text
    used = {item["policy"]: item["used"] for item in mine.json()["items"]}
    assert used == {"daily": 1, "daily-population.get_citizen": 1}
    everyone = (await client.get("/admin/quotas", headers=ADMIN)).json()["items"]
    assert NEW_ID in {item["consumer"] for item in everyone}
    capped = await client.put(f"/admin/quotas/{NEW_ID}", json={"limit": 1}, headers=ADMIN)
    assert capped.status_code == 200, capped.text
    assert (await _call_as(client, NEW_ID, secret)).status_code == 429
    metrics = (await client.get("/metrics")).text
    assert f'ndxp_quota_used{{consumer="{NEW_ID}",policy="daily"}} 1.0' in metrics
    assert f'ndxp_quota_limit{{consumer="{NEW_ID}",policy="daily"}} 1.0' in metrics
    assert f'ndxp_quota_rejections_total{{consumer="{NEW_ID}",' in metrics
