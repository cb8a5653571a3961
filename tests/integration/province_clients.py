"""A province's client of the running gateway (Thanh Hóa's one-stop system, token in hand)
and the gateway's record of what it exchanged."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx

from ndxp_sim.testing import Stack

THANH_HOA_CREDENTIALS = {
    "grant_type": "client_credentials",
    "client_id": "onestop-thanh-hoa",
    "client_secret": "dev-secret-thanh-hoa",
}


def bearer(token: httpx.Response) -> str:
    """The Authorization value for the token endpoint's answer (which must be 200)."""
    assert token.status_code == 200, token.text
    return f"Bearer {token.json()['access_token']}"


@contextmanager
def province_client(stack: Stack) -> Iterator[httpx.Client]:
    """Thanh Hóa's client of the stack's gateway, with its bearer token."""
    with httpx.Client(base_url=stack.gateway_url, timeout=30.0) as client:
        client.headers["Authorization"] = bearer(
            client.post("/oauth2/token", data=THANH_HOA_CREDENTIALS)
        )
        yield client


@asynccontextmanager
async def async_province_client(stack: Stack) -> AsyncIterator[httpx.AsyncClient]:
    """:func:`province_client`, asynchronous."""
    async with httpx.AsyncClient(base_url=stack.gateway_url, timeout=30.0) as client:
        client.headers["Authorization"] = bearer(
            await client.post("/oauth2/token", data=THANH_HOA_CREDENTIALS)
        )
        yield client


def exchange_record(stack: Stack, response: httpx.Response) -> dict[str, Any]:
    """The gateway's exchange record of ``response`` (the read flushes the log first)."""
    exchange_id = response.headers["x-ndxp-exchange-id"]
    found = httpx.get(
        f"{stack.gateway_url}/admin/exchanges/{exchange_id}", headers=stack.admin_headers
    )
    assert found.status_code == 200, found.text
    data: dict[str, Any] = found.json()
    return data
