"""A small OpenID Connect provider served over real HTTP, for testing the auth service's SSO.

Authorization code flow only, with mandatory PKCE (S256), confidential clients
(``client_secret_basic`` / ``client_secret_post``) and RS256 ID tokens. The authorize endpoint
logs in ``provider.next_user`` without any UI. Hooks for negative tests: ``sign_with_wrong_key``,
``id_token_overrides`` (a ``None`` value removes the claim), ``clock`` and ``calls``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import hashlib
import json
import re
import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypedDict
from urllib.parse import parse_qsl, unquote_plus, urlencode, urlsplit, urlunsplit

import jwt
import uvicorn
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

CODE_TTL = 60
TOKEN_TTL = 300
_CLIENT_AUTH = ["client_secret_basic", "client_secret_post"]
SCOPES = ["openid", "profile", "email", "groups"]
_TOKEN_CLAIMS = ["iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "at_hash"]
USER_CLAIMS = ["sub", "email", "email_verified", "preferred_username", "name", "groups"]
_FORM = "application/x-www-form-urlencoded"
_PKCE_VALUE = re.compile(r"[A-Za-z0-9\-._~]{43,128}")  # RFC 7636 §4.1


class OIDCUser(TypedDict):
    sub: str
    email: str
    preferred_username: str
    name: str
    groups: list[str]
    email_verified: bool


DEFAULT_USER: OIDCUser = {
    "sub": "user-1",
    "email": "alice@example.com",
    "preferred_username": "alice",
    "name": "Alice Example",
    "groups": ["agents"],
    "email_verified": True,
}


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    user: OIDCUser
    expires_at: float
    access_token: str | None = None


class OAuthError(Exception):
    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error, self.description, self.status = error, description, status


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _with_query(uri: str, params: Mapping[str, str]) -> str:
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit(parts._replace(query=query))


async def _params(request: Request) -> dict[str, str]:
    """Query (GET) or form (POST) parameters; repeating one is an error (RFC 6749 §3.1)."""
    if request.method == "POST":
        if request.headers.get("content-type", "").split(";")[0] != _FORM:
            raise OAuthError("invalid_request", f"body must be {_FORM}")
        pairs = parse_qsl((await request.body()).decode(), keep_blank_values=True)
    else:
        pairs = parse_qsl(request.url.query, keep_blank_values=True)
    names = [k for k, v in pairs if v]  # an empty parameter counts as omitted
    if len(names) != len(set(names)):
        raise OAuthError("invalid_request", "repeated parameter")
    return {k: v for k, v in pairs if v}


def _error(exc: OAuthError, headers: Mapping[str, str] | None = None) -> JSONResponse:
    body = {"error": exc.error, "error_description": exc.description}
    return JSONResponse(body, exc.status, headers={"Cache-Control": "no-store", **(headers or {})})


class FakeOIDCProvider:
    def __init__(self, issuer: str, clients: Sequence[Mapping[str, Any]]) -> None:
        self.issuer = issuer.rstrip("/")
        self.clients: dict[str, Mapping[str, Any]] = {c["client_id"]: c for c in clients}
        self.key = _new_key()
        self._wrong_key: rsa.RSAPrivateKey | None = None
        pub = self.key.public_key().public_numbers()
        n, e = (_b64url(v.to_bytes((v.bit_length() + 7) // 8, "big")) for v in (pub.n, pub.e))
        self.jwk = {"kty": "RSA", "n": n, "e": e}
        thumbprint = json.dumps(self.jwk, sort_keys=True, separators=(",", ":")).encode()
        self.kid = _b64url(hashlib.sha256(thumbprint).digest())  # RFC 7638
        self.jwk.update(kid=self.kid, alg="RS256", use="sig")
        self._lock = threading.Lock()
        self.reset()
        self.app = Starlette(
            routes=[
                Route("/.well-known/openid-configuration", self.discovery),
                Route("/authorize", self.authorize, methods=["GET", "POST"]),
                Route("/token", self.token, methods=["POST"]),
                Route("/jwks", self.jwks),
                Route("/userinfo", self.userinfo, methods=["GET", "POST"]),
            ]
        )

    def reset(self) -> None:
        """Forget issued codes and tokens; default next user, hooks, counters and clock."""
        with self._lock:
            self._codes: dict[str, _Grant] = {}
            self._used_codes: dict[str, _Grant] = {}
            self._tokens: dict[str, _Grant] = {}
        self.next_user: OIDCUser = copy.deepcopy(DEFAULT_USER)
        self.sign_with_wrong_key = False
        self.id_token_overrides: dict[str, Any] = {}
        self.calls: Counter[str] = Counter()
        self.clock: Callable[[], float] = time.time

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    async def discovery(self, _request: Request) -> Response:
        self.calls["discovery"] += 1
        return JSONResponse(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "userinfo_endpoint": f"{self.issuer}/userinfo",
                "response_types_supported": ["code"],
                "response_modes_supported": ["query"],
                "grant_types_supported": ["authorization_code"],
                "subject_types_supported": ["public"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "code_challenge_methods_supported": ["S256"],
                "token_endpoint_auth_methods_supported": _CLIENT_AUTH,
                "scopes_supported": SCOPES,
                "claims_supported": [*_TOKEN_CLAIMS, *USER_CLAIMS],
                "authorization_response_iss_parameter_supported": True,
            }
        )

    async def jwks(self, _request: Request) -> Response:
        self.calls["jwks"] += 1
        return JSONResponse({"keys": [self.jwk]})

    async def authorize(self, request: Request) -> Response:
        self.calls["authorize"] += 1
        try:
            params = await _params(request)
        except OAuthError as exc:
            return _error(exc)
        client = self.clients.get(params.get("client_id", ""))
        if client is None:
            return _error(OAuthError("invalid_client", "unknown or missing client_id"))
        redirect_uri = params.get("redirect_uri", "")
        if redirect_uri not in client["redirect_uris"]:
            return _error(OAuthError("invalid_request", "redirect_uri is not registered"))
        result: dict[str, str] = {}
        state = params.get("state")
        scopes = params.get("scope", "").split()
        if params.get("response_type") != "code":
            result = {"error": "unsupported_response_type", "error_description": "only code"}
        elif "openid" not in scopes:
            result = {"error": "invalid_scope", "error_description": "scope must include openid"}
        elif not state:
            result = {"error": "invalid_request", "error_description": "state is required"}
        elif not _PKCE_VALUE.fullmatch(params.get("code_challenge", "")):
            result = {"error": "invalid_request", "error_description": "code_challenge required"}
        elif params.get("code_challenge_method") != "S256":
            result = {"error": "invalid_request", "error_description": "only S256 is supported"}
        else:
            code = secrets.token_urlsafe(32)
            with self._lock:
                self._codes[code] = _Grant(
                    client_id=client["client_id"],
                    redirect_uri=redirect_uri,
                    scope=" ".join(s for s in dict.fromkeys(scopes) if s in SCOPES),
                    nonce=params.get("nonce"),
                    code_challenge=params["code_challenge"],
                    user=copy.deepcopy(self.next_user),
                    expires_at=self.clock() + CODE_TTL,
                )
            result = {"code": code}
        if state:
            result["state"] = state
        result["iss"] = self.issuer  # RFC 9207
        return RedirectResponse(_with_query(redirect_uri, result), status_code=302)

    def _authenticate(self, request: Request, params: dict[str, str]) -> Mapping[str, Any]:
        """RFC 6749 §2.3.1: HTTP Basic (form-urlencoded id:secret) or credentials in the body."""
        header = request.headers.get("authorization", "")
        basic = header[:6].lower() == "basic "
        if basic and "client_secret" in params:
            raise OAuthError("invalid_request", "more than one client authentication method")
        client_id, secret = params.get("client_id", ""), params.get("client_secret", "")
        if basic:
            try:
                decoded = base64.b64decode(header[6:], validate=True).decode()
            except ValueError:
                raise OAuthError("invalid_request", "malformed Basic credentials") from None
            raw_id, _, raw_secret = decoded.partition(":")
            if client_id and client_id != unquote_plus(raw_id):
                raise OAuthError("invalid_request", "client_id does not match credentials")
            client_id, secret = unquote_plus(raw_id), unquote_plus(raw_secret)
        client = self.clients.get(client_id)
        if client is None or not secrets.compare_digest(
            secret.encode(), client["client_secret"].encode()
        ):
            raise OAuthError("invalid_client", "client authentication failed", 401)
        return client

    async def token(self, request: Request) -> Response:
        self.calls["token"] += 1
        try:
            params = await _params(request)
            if "grant_type" not in params:
                raise OAuthError("invalid_request", "grant_type is required")
            client = self._authenticate(request, params)
            if params["grant_type"] != "authorization_code":
                raise OAuthError("unsupported_grant_type", "only authorization_code")
            missing = [p for p in ("code", "redirect_uri", "code_verifier") if p not in params]
            if missing:
                raise OAuthError("invalid_request", f"missing {', '.join(missing)}")
            return self._exchange(client, params)
        except OAuthError as exc:
            basic = request.headers.get("authorization", "")[:6].lower() == "basic "
            challenge = exc.status == 401 and basic  # RFC 6749 §5.2
            return _error(exc, {"WWW-Authenticate": 'Basic realm="token"'} if challenge else None)

    def _exchange(self, client: Mapping[str, Any], params: dict[str, str]) -> Response:
        with self._lock:
            grant = self._codes.pop(params["code"], None)
            if grant is None:
                used = self._used_codes.get(params["code"])
                if used is not None and used.access_token:  # RFC 6749 §4.1.2: revoke on reuse
                    self._tokens.pop(used.access_token, None)
                raise OAuthError("invalid_grant", "code is invalid, expired or already used")
            self._used_codes[params["code"]] = grant
        if grant.expires_at < self.clock():
            raise OAuthError("invalid_grant", "code expired")
        if grant.client_id != client["client_id"]:
            raise OAuthError("invalid_grant", "code was issued to another client")
        if grant.redirect_uri != params["redirect_uri"]:
            raise OAuthError("invalid_grant", "redirect_uri does not match the authorization")
        verifier = params["code_verifier"]
        digest = _b64url(hashlib.sha256(verifier.encode("ascii", "replace")).digest())
        if not _PKCE_VALUE.fullmatch(verifier) or not secrets.compare_digest(
            digest, grant.code_challenge
        ):
            raise OAuthError("invalid_grant", "PKCE verification failed")
        access_token = secrets.token_urlsafe(32)
        grant.access_token = access_token
        now = int(self.clock())
        with self._lock:
            self._tokens[access_token] = replace(grant, expires_at=now + TOKEN_TTL)
        body = {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_TTL,
            "id_token": self._id_token(grant, access_token, now),
            "scope": grant.scope,
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _id_token(self, grant: _Grant, access_token: str, now: int) -> str:
        at_hash = _b64url(hashlib.sha256(access_token.encode()).digest()[:16])
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": grant.client_id,
            "azp": grant.client_id,
            "iat": now,
            "exp": now + TOKEN_TTL,
            "auth_time": now,
            "at_hash": at_hash,
            **grant.user,
        }
        if grant.nonce is not None:
            claims["nonce"] = grant.nonce
        claims.update(self.id_token_overrides)
        claims = {k: v for k, v in claims.items() if v is not None}
        if self.sign_with_wrong_key and self._wrong_key is None:
            self._wrong_key = _new_key()
        key = self._wrong_key if self.sign_with_wrong_key and self._wrong_key else self.key
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": self.kid})

    async def userinfo(self, request: Request) -> Response:
        self.calls["userinfo"] += 1
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        with self._lock:
            grant = self._tokens.get(token) if scheme.lower() == "bearer" else None
        if grant is None or grant.expires_at < self.clock():
            challenge = 'Bearer error="invalid_token"' if scheme.lower() == "bearer" else "Bearer"
            return Response(status_code=401, headers={"WWW-Authenticate": challenge})
        return JSONResponse(dict(grant.user))


class _Server(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield  # signals belong to the test runner, not this background server


@contextlib.contextmanager
def run_oidc_provider(clients: Sequence[Mapping[str, Any]]) -> Iterator[FakeOIDCProvider]:
    """Serve a fresh provider on a free loopback port; the issuer is ``http://127.0.0.1:<port>``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        provider = FakeOIDCProvider(f"http://127.0.0.1:{sock.getsockname()[1]}", clients)
        config = uvicorn.Config(provider.app, log_config=None, access_log=False, lifespan="off")
        config.timeout_graceful_shutdown = 2
        server = _Server(config)
        thread = threading.Thread(target=server.run, args=([sock],), name="fake-oidc", daemon=True)
        thread.start()
        try:
            deadline = time.monotonic() + 10
            while not server.started:
                if not thread.is_alive() or time.monotonic() > deadline:
                    raise RuntimeError("fake OIDC provider did not start")
                time.sleep(0.01)
            yield provider
        finally:
            server.should_exit = True
            thread.join(timeout=5)
            if thread.is_alive():
                server.force_exit = True
                thread.join(timeout=5)
