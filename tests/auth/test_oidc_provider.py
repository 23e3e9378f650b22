from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx2
import jwt
import pytest

from tests.auth.oidc_provider import FakeOIDCProvider, run_oidc_provider

REDIRECT = "http://rp.test/sso/callback"
OTHER_REDIRECT = "http://other.test/cb?tenant=7"
CLIENT = {"client_id": "aicc", "client_secret": "s3cret", "redirect_uris": [REDIRECT]}
OTHER = {"client_id": "other", "client_secret": "x", "redirect_uris": [OTHER_REDIRECT]}


@pytest.fixture(scope="module")
def _running() -> Iterator[FakeOIDCProvider]:
    with run_oidc_provider([CLIENT, OTHER]) as provider:
        yield provider


@pytest.fixture
def provider(_running: FakeOIDCProvider) -> FakeOIDCProvider:
    _running.reset()
    return _running


@pytest.fixture
def http(provider: FakeOIDCProvider) -> Iterator[httpx2.Client]:
    with httpx2.Client(base_url=provider.issuer, timeout=5) as client:
        yield client


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _authorize(http: httpx2.Client, challenge: str, **params: str | None) -> dict[str, str]:
    """Run /authorize and return the query of the redirect it answers with."""
    query: dict[str, str | None] = {
        "response_type": "code",
        "client_id": "aicc",
        "redirect_uri": REDIRECT,
        "scope": "openid profile email groups",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        **params,
    }
    response = http.get("/authorize", params={k: v for k, v in query.items() if v is not None})
    assert response.status_code == 302, response.text
    location = urlsplit(response.headers["location"])
    expected = urlsplit(query["redirect_uri"] or "")
    assert (location.netloc, location.path) == (expected.netloc, expected.path)
    return {k: v[0] for k, v in parse_qs(location.query).items()}


def _redeem(
    http: httpx2.Client,
    code: str,
    verifier: str,
    *,
    auth: tuple[str, str] = ("aicc", "s3cret"),
    extra: Mapping[str, str] | None = None,
) -> httpx2.Response:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT}
    form = {**form, "code_verifier": verifier, **(extra or {})}
    return http.post("/token", data=form, auth=auth)


def _login(http: httpx2.Client) -> tuple[str, str]:
    verifier, challenge = _pkce()
    return _authorize(http, challenge)["code"], verifier


def _verify(http: httpx2.Client, provider: FakeOIDCProvider, id_token: str) -> dict[str, Any]:
    [jwk] = http.get("/jwks").json()["keys"]
    assert jwt.get_unverified_header(id_token)["kid"] == jwk["kid"]
    key = jwt.PyJWK(jwk)
    claims: dict[str, Any] = jwt.decode(
        id_token, key, algorithms=["RS256"], audience="aicc", issuer=provider.issuer
    )
    return claims


def test_discovery(provider: FakeOIDCProvider, http: httpx2.Client) -> None:
    doc = http.get(provider.discovery_url).json()
    assert doc["issuer"] == provider.issuer
    for name, path in [("authorization_endpoint", "/authorize"), ("token_endpoint", "/token")]:
        assert doc[name] == provider.issuer + path
    assert doc["response_types_supported"] == ["code"]
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["id_token_signing_alg_values_supported"] == ["RS256"]
    assert set(doc["token_endpoint_auth_methods_supported"]) == {
        "client_secret_basic",
        "client_secret_post",
    }
    assert {"openid", "email"} <= set(doc["scopes_supported"])
    assert "groups" in doc["claims_supported"]
    [jwk] = http.get(doc["jwks_uri"]).json()["keys"]
    assert {k: jwk[k] for k in ("kty", "alg", "use")} == {
        "kty": "RSA",
        "alg": "RS256",
        "use": "sig",
    }
    assert "d" not in jwk
    assert provider.calls["discovery"] == provider.calls["jwks"] == 1


@pytest.mark.parametrize("method", ["client_secret_basic", "client_secret_post"])
def test_code_flow_with_pkce(provider: FakeOIDCProvider, http: httpx2.Client, method: str) -> None:
    provider.next_user = {
        "sub": "u-42",
        "email": "bob@example.com",
        "preferred_username": "bob",
        "name": "Bob",
        "groups": ["admins"],
        "email_verified": False,
    }
    verifier, challenge = _pkce()
    redirect = _authorize(http, challenge)
    assert redirect["state"] == "st-1"
    assert redirect["iss"] == provider.issuer
    form = {"grant_type": "authorization_code", "code": redirect["code"], "redirect_uri": REDIRECT}
    form["code_verifier"] = verifier
    if method == "client_secret_basic":
        response = http.post("/token", data=form, auth=("aicc", "s3cret"))
    else:
        response = http.post(
            "/token", data={**form, "client_id": "aicc", "client_secret": "s3cret"}
        )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] > 0
    assert body["scope"] == "openid profile email groups"
    claims = _verify(http, provider, body["id_token"])
    assert claims["nonce"] == "n-1"
    assert claims["groups"] == ["admins"]
    assert claims["email_verified"] is False
    assert claims["sub"] == "u-42"
    assert (claims["email"], claims["preferred_username"], claims["name"]) == (
        "bob@example.com",
        "bob",
        "Bob",
    )
    at_hash = hashlib.sha256(body["access_token"].encode()).digest()[:16]
    assert claims["at_hash"] == base64.urlsafe_b64encode(at_hash).rstrip(b"=").decode()
    bearer = {"Authorization": f"Bearer {body['access_token']}"}
    info = http.get("/userinfo", headers=bearer).json()
    assert info["sub"] == "u-42"
    assert info["groups"] == ["admins"]
    assert http.get("/userinfo").status_code == 401
    assert dict(provider.calls) == {"authorize": 1, "token": 1, "jwks": 1, "userinfo": 2}


def test_wrong_verifier_is_invalid_grant(http: httpx2.Client) -> None:
    code, _ = _login(http)
    response = _redeem(http, code, _pkce()[0])
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_is_single_use_and_reuse_revokes_tokens(http: httpx2.Client) -> None:
    code, verifier = _login(http)
    first = _redeem(http, code, verifier)
    assert first.status_code == 200
    second = _redeem(http, code, verifier)
    assert (second.status_code, second.json()["error"]) == (400, "invalid_grant")
    bearer = {"Authorization": f"Bearer {first.json()['access_token']}"}
    assert http.get("/userinfo", headers=bearer).status_code == 401


def test_code_expires(provider: FakeOIDCProvider, http: httpx2.Client) -> None:
    code, verifier = _login(http)
    provider.clock = lambda: time.time() + 61
    assert _redeem(http, code, verifier).json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("extra", "error"),
    [
        ({"redirect_uri": "http://rp.test/elsewhere"}, "invalid_grant"),
        ({"grant_type": "refresh_token"}, "unsupported_grant_type"),
        ({"code_verifier": ""}, "invalid_request"),
    ],
)
def test_token_request_errors(http: httpx2.Client, extra: dict[str, str], error: str) -> None:
    code, verifier = _login(http)
    response = _redeem(http, code, verifier, extra=extra)
    assert (response.status_code, response.json()["error"]) == (400, error)


def test_code_is_bound_to_its_client(http: httpx2.Client) -> None:
    verifier, challenge = _pkce()
    code = _authorize(http, challenge, client_id="other", redirect_uri=OTHER_REDIRECT)["code"]
    response = _redeem(http, code, verifier)
    assert response.json()["error"] == "invalid_grant"


def test_bad_client_secret_is_invalid_client(http: httpx2.Client) -> None:
    code, verifier = _login(http)
    response = _redeem(http, code, verifier, auth=("aicc", "wrong"))
    assert (response.status_code, response.json()["error"]) == (401, "invalid_client")
    assert response.headers["www-authenticate"].startswith("Basic")
    form = {"grant_type": "authorization_code", "client_id": "aicc", "client_secret": "no"}
    assert http.post("/token", data=form).status_code == 401
    assert _redeem(http, code, verifier).status_code == 200  # the code survived


@pytest.mark.parametrize(
    "params",
    [{"redirect_uri": "http://rp.test/other"}, {"redirect_uri": None}, {"client_id": "nobody"}],
)
def test_authorize_does_not_redirect_to_unverified_uri(
    http: httpx2.Client, params: dict[str, str | None]
) -> None:
    query = {"response_type": "code", "client_id": "aicc", "redirect_uri": REDIRECT, **params}
    query.update(scope="openid", state="s", code_challenge=_pkce()[1], code_challenge_method="S256")
    response = http.get("/authorize", params={k: v for k, v in query.items() if v is not None})
    assert response.status_code == 400
    assert "error" in response.json()
    assert "location" not in response.headers


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"code_challenge": None, "code_challenge_method": None}, "invalid_request"),
        ({"code_challenge_method": "plain"}, "invalid_request"),
        ({"code_challenge": "too-short"}, "invalid_request"),
        ({"scope": "email profile"}, "invalid_scope"),
        ({"response_type": "token"}, "unsupported_response_type"),
    ],
)
def test_authorize_errors_redirect_back(
    http: httpx2.Client, params: dict[str, str | None], error: str
) -> None:
    redirect = _authorize(http, _pkce()[1], **params)
    assert redirect["error"] == error
    assert redirect["state"] == "st-1"
    assert "code" not in redirect


def test_redirect_keeps_the_registered_query(http: httpx2.Client) -> None:
    redirect = _authorize(
        http, _pkce()[1], client_id="other", redirect_uri=OTHER_REDIRECT, state=None
    )
    assert redirect["tenant"] == "7"
    assert redirect["error"] == "invalid_request"  # state is required
    assert "state" not in redirect


def test_id_token_hooks(provider: FakeOIDCProvider, http: httpx2.Client) -> None:
    provider.id_token_overrides = {"nonce": "forged", "email": None}
    code, verifier = _login(http)
    claims = _verify(http, provider, _redeem(http, code, verifier).json()["id_token"])
    assert claims["nonce"] == "forged"
    assert "email" not in claims

    provider.id_token_overrides = {"exp": int(time.time()) - 10}
    code, verifier = _login(http)
    with pytest.raises(jwt.ExpiredSignatureError):
        _verify(http, provider, _redeem(http, code, verifier).json()["id_token"])

    provider.id_token_overrides = {}
    provider.sign_with_wrong_key = True
    code, verifier = _login(http)
    with pytest.raises(jwt.InvalidSignatureError):
        _verify(http, provider, _redeem(http, code, verifier).json()["id_token"])
