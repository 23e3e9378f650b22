"""Small helpers shared by the auth tests: error bodies, token claims, login and refresh
requests, registration bodies, captured response bodies and hand-made (forged) tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx2
import jwt
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

if TYPE_CHECKING:
    from tests.auth.conftest import AuthClient


# --- responses ----------------------------------------------------------------------------


def error_code(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


def assert_error(response: httpx2.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert error_code(response) == code, response.text


def kept_bodies(client: AuthClient) -> list[str]:
    """The text of every response ``client`` receives from now on, in order."""
    bodies: list[str] = []

    async def keep(response: httpx2.Response) -> None:
        await response.aread()
        bodies.append(response.text)

    client.http.event_hooks["response"].append(keep)
    return bodies


# --- tokens -------------------------------------------------------------------------------


def claims_of(token: str) -> dict[str, Any]:
    """The payload of a JWT, read without checking the signature."""
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def access_claims(tokens: dict[str, Any]) -> dict[str, Any]:
    """The payload of the access token of a token pair (see ``claims_of``)."""
    return claims_of(tokens["access_token"])


def kid_of(token: str) -> str:
    kid: str = jwt.get_unverified_header(token)["kid"]
    return kid


# --- requests -----------------------------------------------------------------------------


async def login_response(
    client: AuthClient,
    username: str,
    password: str,
    *,
    mfa_token: str | None = None,
    headers: Mapping[str, str] | None = None,
) -> httpx2.Response:
    """POST /auth/login, whatever it answers."""
    body: dict[str, Any] = {"username": username, "password": password}
    if mfa_token is not None:
        body["mfa_token"] = mfa_token
    return await client.http.post("/auth/login", json=body, headers=headers)


async def refresh_response(client: AuthClient, tokens: dict[str, Any]) -> httpx2.Response:
    return await client.http.post("/auth/refresh", json={"refresh_token": tokens["refresh_token"]})


async def refresh(client: AuthClient, tokens: dict[str, Any]) -> dict[str, Any]:
    """The new token pair for the refresh token of ``tokens`` (which must be accepted)."""
    response = await refresh_response(client, tokens)
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


def registration_body(
    username: str, password: str, roles: list[str], **extra: Any
) -> dict[str, Any]:
    """A body for POST /auth/register with an ``@example.com`` address."""
    return {
        "username": username,
        "email": f"{username}@example.com",
        "password": password,
        "roles": roles,
        **extra,
    }


# --- forged tokens ------------------------------------------------------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unsigned_jwt(header: dict[str, Any], claims: dict[str, Any]) -> str:
    """The signing input ``header.claims`` of a JWT, without the signature part."""
    parts = (json.dumps(header).encode(), json.dumps(claims).encode())
    return ".".join(_b64url(p) for p in parts)


def alg_none_token(claims: dict[str, Any], kid: str) -> str:
    return _unsigned_jwt({"alg": "none", "typ": "at+jwt", "kid": kid}, claims) + "."


def hs256_token(claims: dict[str, Any], secret: bytes, header: dict[str, str]) -> str:
    """Signed by hand: PyJWT refuses key-confusion secrets, an attacker would not."""
    signing_input = _unsigned_jwt({"alg": "HS256", **header}, claims)
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(mac)}"


def eddsa_token(claims: dict[str, Any], kid: str) -> str:
    """Signed with a fresh Ed25519 key the auth service never saw."""
    key = Ed25519PrivateKey.generate()
    return jwt.encode(claims, key, algorithm="EdDSA", headers={"kid": kid, "typ": "at+jwt"})
