"""The token cache: one fetch for concurrent callers, early refresh, stale tokens replaced once."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from connectors.errors import Unauthenticated
from connectors.tokens import TokenCache


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def token_endpoint(ttl_s: int, issued: list[str]) -> httpx.MockTransport:
    def handle(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/oauth2/token"
        form = dict(httpx.QueryParams(request.content.decode()))
        if form != {"grant_type": "client_credentials", "client_id": "c", "client_secret": "s"}:
            return httpx.Response(401, json={"code": "unauthenticated"})
        issued.append(f"tok-{len(issued) + 1}")
        return httpx.Response(200, json={"access_token": issued[-1], "expires_in": ttl_s})

    return httpx.MockTransport(handle)


def cache(
    ttl_s: int, issued: list[str], clock: Clock, secret: str = "s", margin: float = 30.0
) -> tuple[TokenCache, list[str]]:
    http = httpx.AsyncClient(base_url="http://gw.test", transport=token_endpoint(ttl_s, issued))
    fetches: list[str] = []
    tokens = TokenCache(
        http,
        "c",
        secret,
        refresh_margin_s=margin,
        clock=clock,
        on_fetch=lambda status, detail: fetches.append(detail),
    )
    return tokens, fetches


async def test_concurrent_callers_share_one_fetch() -> None:
    issued: list[str] = []
    tokens, fetches = cache(300, issued, Clock())

    got = await asyncio.gather(*(tokens.get() for _ in range(10)))

    assert set(got) == {"tok-1"}
    assert fetches == ["first token; expires in 300 s"]


async def test_a_stale_token_is_replaced_once_for_everyone() -> None:
    issued: list[str] = []
    tokens, _ = cache(300, issued, Clock())
    old = await tokens.get()

    renewed = await asyncio.gather(*(tokens.get(stale=old) for _ in range(5)))

    assert set(renewed) == {"tok-2"}
    assert issued == ["tok-1", "tok-2"]


@pytest.mark.parametrize(
    ("ttl_s", "margin", "refresh_at"),
    [(300, 30.0, 270.0), (20, 30.0, 10.0)],  # a short-lived token: half its life, not every call
)
async def test_refresh_happens_margin_before_expiry(
    ttl_s: int, margin: float, refresh_at: float
) -> None:
    issued: list[str] = []
    clock = Clock()
    tokens, _ = cache(ttl_s, issued, clock, margin=margin)
    await tokens.get()

    clock.now = refresh_at - 0.5
    assert await tokens.get() == "tok-1"
    clock.now = refresh_at
    assert await tokens.get() == "tok-2"


async def test_wrong_secret_raises_unauthenticated() -> None:
    tokens, fetches = cache(300, [], Clock(), secret="wrong")

    with pytest.raises(Unauthenticated):
        await tokens.get()

    assert fetches == []
