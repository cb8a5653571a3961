"""A province's client of the running gateway: Thanh Hóa's one-stop system, token in hand."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

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
