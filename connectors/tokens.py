"""Access tokens (*mã truy cập*): OAuth2 client credentials, cached and refreshed early.

The gateway's tokens are short-lived JWTs (300 s by default). The cache hands out the current
one until ``refresh_margin_s`` before it expires, so that a token never runs out in flight
(a 35 s upstream timeout outlives the last seconds of a token), and fetches a new one once for
all concurrent callers (one lock). A token the gateway has just refused is passed back as
``stale``: the cache replaces it unless another caller already has.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime

import httpx

from connectors.errors import error_from_response, map_transport_errors
from contracts.gateway import TokenResponse

TOKEN_PATH = "/oauth2/token"


class TokenCache:
    """The token of one consumer; ``on_fetch(status, detail)`` hears every fetch."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        client_id: str,
        client_secret: str,
        *,
        refresh_margin_s: float,
        clock: Callable[[], float],
        on_fetch: Callable[[int, str], None],
    ) -> None:
        self._http = http
        self.client_id = client_id
        self._secret = client_secret
        self.refresh_margin_s = refresh_margin_s
        self._clock = clock
        self._on_fetch = on_fetch
        self._token: str | None = None
        self._refresh_at = 0.0
        self._lock = asyncio.Lock()

    async def get(self, stale: str | None = None) -> str:
        """A valid access token; a new one if the cached one is ``stale`` or about to expire.

        Raises:
            Unauthenticated: the client id or secret is wrong.
            TransportError: the gateway could not be reached.
        """
        async with self._lock:
            token = self._token
            if token is not None and token != stale and self._clock() < self._refresh_at:
                return token
            reason = "first token" if token is None else "refused (401)" if stale else "expiring"
            asked_at = self._clock()
            with map_transport_errors():
                response = await self._http.post(
                    TOKEN_PATH,
                    data={
                        "grant_type": "client_credentials",
                        "client_id": self.client_id,
                        "client_secret": self._secret,
                    },
                )
            if response.status_code != 200:
                raise error_from_response(response, now=datetime.now(UTC))
            answer = TokenResponse.model_validate_json(response.content)
            # Refresh early, but never so early that a short-lived token is refreshed each call.
            margin = min(self.refresh_margin_s, answer.expires_in / 2)
            self._token = answer.access_token
            self._refresh_at = asked_at + answer.expires_in - margin
            self._on_fetch(response.status_code, f"{reason}; expires in {answer.expires_in} s")
            return answer.access_token
