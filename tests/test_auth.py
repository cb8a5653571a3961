"""Identity: client credentials in, short-lived HS256 JWTs out; anything else is 401."""

from __future__ import annotations

import base64
import time

import jwt
import pytest
from starlette.datastructures import Headers

from gateway.auth import AUDIENCE, ISSUER, Authenticator, authorization, client_credentials
from gateway.errors import InvalidRequest, Unauthenticated
from gateway.testing import THANH_HOA, small_registry

SECRET = "test-signing-key-" + "k" * 48  # 64 bytes: long enough even for HS512


@pytest.fixture
def auth() -> Authenticator:
    return Authenticator(small_registry(), secret=SECRET, ttl_s=300)


def _token(auth: Authenticator) -> str:
    consumer = auth.authenticate_client(*THANH_HOA)
    return auth.issue(consumer).access_token


def test_issued_token_carries_the_claims_and_verifies(auth: Authenticator) -> None:
    response = auth.issue(auth.authenticate_client(*THANH_HOA))
    claims = jwt.decode(response.access_token, SECRET, algorithms=["HS256"], audience=AUDIENCE)
    assert claims["sub"] == "onestop-thanh-hoa"
    assert claims["province"] == "038"
    assert claims["iss"] == ISSUER
    assert claims["exp"] - claims["iat"] == 300 == response.expires_in
    assert claims["jti"]
    assert response.token_type == "Bearer"
    assert auth.verify(f"Bearer {response.access_token}").id == "onestop-thanh-hoa"


@pytest.mark.parametrize(
    ("client_id", "secret"),
    [("onestop-thanh-hoa", "wrong"), ("nobody", "dev-secret-thanh-hoa"), ("", "")],
)
def test_wrong_client_credentials_are_refused(
    auth: Authenticator, client_id: str, secret: str
) -> None:
    with pytest.raises(Unauthenticated) as caught:
        auth.authenticate_client(client_id, secret)
    assert caught.value.extensions == {"error": "invalid_client"}


def _forge(claims_update: dict[str, object], key: str = SECRET, alg: str = "HS256") -> str:
    now = int(time.time())
    claims = {"sub": "onestop-thanh-hoa", "iss": ISSUER, "aud": AUDIENCE, "iat": now,
              "exp": now + 60, "jti": "j", **claims_update}  # fmt: skip
    return jwt.encode(claims, key, algorithm=alg)


def _alg_none() -> str:
    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    now = int(time.time())
    payload = (
        f'{{"sub":"onestop-thanh-hoa","iss":"{ISSUER}","aud":"{AUDIENCE}",'
        f'"iat":{now},"exp":{now + 60},"jti":"j"}}'
    )
    header = b64(b'{"alg":"none","typ":"JWT"}')
    return f"{header}.{b64(payload.encode())}."


@pytest.mark.parametrize(
    "token",
    [
        pytest.param(lambda: _forge({}, key="another-key-" + "k" * 53), id="wrong-key"),
        pytest.param(lambda: _forge({"exp": int(time.time()) - 10}), id="expired"),
        pytest.param(lambda: _forge({"aud": "someone-else"}), id="wrong-audience"),
        pytest.param(lambda: _forge({"iss": "someone-else"}), id="wrong-issuer"),
        pytest.param(lambda: _forge({"sub": "onestop-atlantis"}), id="unknown-consumer"),
        pytest.param(lambda: _forge({}, alg="HS512"), id="other-algorithm"),
        pytest.param(_alg_none, id="alg-none"),
        pytest.param(lambda: "a.b.c", id="garbage"),
    ],
)
def test_bad_tokens_are_unauthenticated(auth: Authenticator, token: object) -> None:
    with pytest.raises(Unauthenticated):
        auth.verify(f"Bearer {token()}")  # type: ignore[operator]


def test_tampered_payload_is_unauthenticated(auth: Authenticator) -> None:
    header, payload, signature = _token(auth).split(".")
    claims = base64.urlsafe_b64decode(payload + "==").replace(b"thanh-hoa", b"ha-noi")
    forged = base64.urlsafe_b64encode(claims).rstrip(b"=").decode()
    with pytest.raises(Unauthenticated):
        auth.verify(f"Bearer {header}.{forged}.{signature}")


def test_token_issued_in_the_past_expires(auth: Authenticator) -> None:
    past = Authenticator(small_registry(), secret=SECRET, ttl_s=60, clock=lambda: time.time() - 120)
    token = past.issue(past.authenticate_client(*THANH_HOA)).access_token
    with pytest.raises(Unauthenticated, match="expired"):
        auth.verify(f"Bearer {token}")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer ", "Token abc"])
def test_missing_or_non_bearer_authorization_is_unauthenticated(
    auth: Authenticator, header: str | None
) -> None:
    with pytest.raises(Unauthenticated):
        auth.verify(header)


def test_credentials_from_form_fields() -> None:
    body = b"grant_type=client_credentials&client_id=a%2Bb&client_secret=s%26t"
    assert client_credentials(body, None) == ("a+b", "s&t")


def test_credentials_from_http_basic_are_form_decoded() -> None:
    basic = base64.b64encode(b"onestop-thanh-hoa:dev%2Bsecret").decode()
    assert client_credentials(b"grant_type=client_credentials", f"Basic {basic}") == (
        "onestop-thanh-hoa",
        "dev+secret",
    )


def test_credentials_given_twice_are_invalid_request() -> None:
    basic = base64.b64encode(b"a:b").decode()
    with pytest.raises(InvalidRequest):
        client_credentials(b"grant_type=client_credentials&client_id=a", f"Basic {basic}")


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"client_id=a&client_secret=b", "invalid_request"),
        (b"grant_type=password&client_id=a&client_secret=b", "unsupported_grant_type"),
    ],
)
def test_other_grants_are_invalid_request(body: bytes, error: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        client_credentials(body, None)
    assert caught.value.extensions["error"] == error


def test_missing_credentials_are_unauthenticated() -> None:
    with pytest.raises(Unauthenticated):
        client_credentials(b"grant_type=client_credentials", None)


def test_one_authorization_header_is_read_and_none_is_none() -> None:
    assert authorization(Headers(raw=[(b"authorization", b"Bearer a")])) == "Bearer a"
    assert authorization(Headers(raw=[(b"accept", b"*/*")])) is None


def test_two_authorization_headers_are_refused_whichever_would_win() -> None:
    twice = Headers(raw=[(b"authorization", b"Bearer a"), (b"authorization", b"Bearer b")])
    with pytest.raises(InvalidRequest) as refused:
        authorization(twice)
    assert refused.value.code == "invalid_request"
    assert 'error="invalid_request"' in refused.value.response_headers()["WWW-Authenticate"]
