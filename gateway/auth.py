"""Identity (*xác thực*): OAuth2 client credentials in, short-lived signed JWTs out.

A consumer exchanges its client id and secret (form fields or HTTP Basic, RFC 6749 §2.3.1,
§4.4) for a bearer token (RFC 6750): an HS256 JWT with ``sub`` (consumer id), ``iss``,
``aud``, ``iat``, ``exp``, ``jti`` and ``province``. Every API call must carry one. Only HS256
is accepted on the way back in, so ``alg: none`` and algorithm-confusion tokens fail like a
wrong signature: 401 ``unauthenticated``.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, unquote

import jwt
from starlette.datastructures import Headers

from contracts.gateway import TokenResponse
from gateway.errors import InvalidRequest, Unauthenticated
from gateway.registry import ConsumerSpec, Registry

ISSUER = "ndxp-sim-gateway"
AUDIENCE = "ndxp"
ALGORITHM = "HS256"
_REQUIRED_CLAIMS = ["sub", "iss", "aud", "iat", "exp", "jti"]
_CACHE_MAX = 4096


class Authenticator:
    """Issues and verifies the gateway's access tokens against the registry's consumers."""

    def __init__(
        self,
        registry: Registry,
        *,
        secret: str,
        ttl_s: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._ttl_s = ttl_s
        self._clock = clock
        self._by_id = {c.id: c for c in registry.consumers}
        self._by_client_id = {c.client_id: c for c in registry.consumers}
        # Verified tokens, so that the hot path skips the HMAC and JSON work of a decode; an
        # entry lives no longer than its token's ``exp``.
        self._verified: dict[str, tuple[ConsumerSpec, float]] = {}

    def authenticate_client(self, client_id: str, client_secret: str) -> ConsumerSpec:
        """The consumer whose credentials these are; 401 ``unauthenticated`` otherwise."""
        consumer = self._by_client_id.get(client_id)
        expected = consumer.client_secret.get_secret_value() if consumer else ""
        # Compare even for an unknown client id, so timing does not reveal which ids exist.
        if not hmac.compare_digest(expected.encode(), client_secret.encode()) or consumer is None:
            raise Unauthenticated(
                "unknown client or wrong secret", extensions={"error": "invalid_client"}
            )
        return consumer

    def consumers(self) -> list[ConsumerSpec]:
        """Every consumer known now (quotas and metrics are reported for each)."""
        return list(self._by_id.values())

    def consumer(self, consumer_id: str) -> ConsumerSpec | None:
        """One known consumer, or None."""
        return self._by_id.get(consumer_id)

    def issue(self, consumer: ConsumerSpec) -> TokenResponse:
        """A fresh access token for ``consumer``."""
        now = int(self._clock())
        claims: dict[str, Any] = {
            "sub": consumer.id,
            "iss": ISSUER,
            "aud": AUDIENCE,
            "iat": now,
            "exp": now + self._ttl_s,
            "jti": uuid.uuid4().hex,
            "province": consumer.province,
        }
        token = jwt.encode(claims, self._secret, algorithm=ALGORITHM)
        return TokenResponse(access_token=token, expires_in=self._ttl_s)

    def verify(self, authorization: str | None) -> ConsumerSpec:
        """The consumer a ``Authorization: Bearer <jwt>`` header identifies.

        Raises:
            Unauthenticated: no header, another scheme, or a token that is malformed,
                tampered with, expired, not HS256, or for a consumer no longer registered.
        """
        token = _bearer(authorization)
        cached = self._verified.get(token)
        if cached is not None and cached[1] > time.time():
            return cached[0]
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[ALGORITHM],
                audience=AUDIENCE,
                issuer=ISSUER,
                options={"require": _REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise Unauthenticated("the access token has expired") from None
        except jwt.InvalidTokenError as exc:
            raise Unauthenticated(f"invalid access token: {exc}") from None
        consumer = self._by_id.get(str(claims["sub"]))
        if consumer is None:
            raise Unauthenticated("the token's consumer is not registered")
        if len(self._verified) >= _CACHE_MAX:
            self._verified.clear()
        self._verified[token] = (consumer, float(claims["exp"]))
        return consumer


def authorization(headers: Headers) -> str | None:
    """The request's one ``Authorization`` header, or None.

    Raises:
        InvalidRequest: the header is repeated. Which copy would win differs between
            servers and proxies, so neither does (RFC 6750 §3.1: ``invalid_request``, 400).
    """
    values = headers.getlist("authorization")
    if len(values) > 1:
        raise InvalidRequest(
            "send exactly one Authorization header",
            headers={"WWW-Authenticate": 'Bearer realm="ndxp", error="invalid_request"'},
        )
    return values[0] if values else None


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise Unauthenticated("an Authorization: Bearer <token> header is required")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("the Authorization header must use the Bearer scheme")
    return token.strip()


def client_credentials(body: bytes, authorization: str | None) -> tuple[str, str]:
    """Client id and secret of a token request: HTTP Basic or form fields (RFC 6749 §2.3.1).

    Raises:
        InvalidRequest: the grant is not ``client_credentials``, the form is malformed, or
            credentials are given twice or not at all.
    """
    try:
        form = dict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False))
    except UnicodeDecodeError:
        raise InvalidRequest("the token request body is not UTF-8 form data") from None
    grant = form.get("grant_type")
    if grant != "client_credentials":
        raise InvalidRequest(
            "grant_type must be client_credentials",
            extensions={"error": "invalid_request" if grant is None else "unsupported_grant_type"},
        )
    basic = _basic(authorization)
    in_form = form.get("client_id"), form.get("client_secret")
    if basic is not None and in_form[0] is not None:
        raise InvalidRequest("send the client credentials once: Basic or form, not both")
    if basic is not None:
        return basic
    if in_form[0] is None or in_form[1] is None:
        raise Unauthenticated("client_id and client_secret are required")
    return in_form[0], in_form[1]


def _basic(authorization: str | None) -> tuple[str, str] | None:
    if not authorization:
        return None
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthenticated("malformed HTTP Basic credentials") from None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        raise Unauthenticated("malformed HTTP Basic credentials")
    # RFC 6749 §2.3.1: both parts are form-urlencoded before Basic encoding.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))
