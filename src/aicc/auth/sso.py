"""Single sign-on as an OpenID Connect relying party: authorization code flow with PKCE,
provider metadata from discovery, users provisioned on first login, IdP groups mapped to roles.

Providers are configured with ``AICC_AUTH_SSO_PROVIDERS`` (JSON list), each:
``{"name", "issuer", "client_id", "client_secret", "redirect_uri", "scopes"?,
"groups_claim"? ("groups"), "role_mapping"? ({group: ROLE}), "default_role"? (None: deny)}``.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import httpx2
import jwt
from sqlalchemy import insert, select

from aicc.auth import audit, models, users
from aicc.auth.audit import Actor
from aicc.auth.base import AuthBase
from aicc.core.errors import (
    ConfigError,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    Unauthorized,
)
from aicc.core.permissions import ROLE_RANK, Role, parse_role

STATE_TTL = 600
ID_TOKEN_ALGORITHMS = frozenset({"RS256", "PS256", "ES256", "EdDSA"})


@dataclass
class Provider:
    name: str
    issuer: str
    client_id: str
    client_secret: str
    redirect_uri: str
    scopes: list[str] = field(default_factory=lambda: ["openid", "email", "profile"])
    groups_claim: str = "groups"
    role_mapping: dict[str, str] = field(default_factory=dict)
    default_role: str | None = None
    metadata: dict[str, Any] | None = field(default=None, init=False)
    keys: dict[str, jwt.PyJWK] = field(default_factory=dict, init=False)
    keys_fetched_at: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        for name in ("name", "issuer", "client_id", "client_secret", "redirect_uri"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name):
                raise ValueError(f"{name} must be a non-empty string")
        if not isinstance(self.role_mapping, dict):
            raise ValueError("role_mapping must map IdP groups to role names")


def _challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _sso_error(message: str) -> Unauthorized:
    return Unauthorized(message, code="sso_failed")


class SsoMixin(AuthBase):
    _providers: dict[str, Provider] | None = None

    def load_sso_providers(self) -> None:
        """Read ``AICC_AUTH_SSO_PROVIDERS``; a provider that cannot work is a start-up error."""
        providers: dict[str, Provider] = {}
        for index, entry in enumerate(self.settings.auth.sso_providers):
            try:
                provider = Provider(**entry)
                for role in [*provider.role_mapping.values(), provider.default_role]:
                    if role is not None:
                        parse_role(role)
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"AICC_AUTH_SSO_PROVIDERS[{index}] is invalid: {exc}") from None
            if provider.name in providers:
                raise ConfigError(f"AICC_AUTH_SSO_PROVIDERS names {provider.name!r} twice")
            providers[provider.name] = provider
        self._providers = providers

    def sso_provider(self, name: str) -> Provider:
        if self._providers is None:
            self.load_sso_providers()
        assert self._providers is not None
        provider = self._providers.get(name)
        if provider is None:
            raise NotFound("No such SSO provider", code="sso_provider_not_found")
        return provider

    async def _metadata(self, provider: Provider) -> dict[str, Any]:
        if provider.metadata is None:
            url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
            document = await self._get_json(url)
            if document.get("issuer") != provider.issuer:
                raise ServiceUnavailable("SSO provider metadata names another issuer")
            provider.metadata = document
        return provider.metadata

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url)
            response.raise_for_status()
            data = response.json()
        except (httpx2.HTTPError, ValueError):
            raise ServiceUnavailable("The SSO provider cannot be reached") from None
        if not isinstance(data, dict):
            raise ServiceUnavailable("The SSO provider answered with something unexpected")
        return data

    async def sso_login_url(self, name: str) -> str:
        """Where to send the browser: the provider's authorization endpoint with PKCE."""
        provider = self.sso_provider(name)
        metadata = await self._metadata(provider)
        state, nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        verifier = secrets.token_urlsafe(64)
        record = {"provider": name, "nonce": nonce, "verifier": verifier}
        await self.resources.cache.set(
            f"auth:sso:state:{state}", json.dumps(record).encode(), ttl=STATE_TTL
        )
        query = urlencode(
            {
                "response_type": "code",
                "client_id": provider.client_id,
                "redirect_uri": provider.redirect_uri,
                "scope": " ".join(provider.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": _challenge(verifier),
                "code_challenge_method": "S256",
            }
        )
        return f"{metadata['authorization_endpoint']}?{query}"

    async def sso_callback(
        self,
        name: str,
        *,
        code: str | None,
        state: str | None,
        error: str | None = None,
        ip_address: str | None = None,
        user_agent: str | None = None,
    ) -> dict[str, Any]:
        provider = self.sso_provider(name)
        record = await self._take_state(state)
        if record is None or record["provider"] != name:
            raise _sso_error("Unknown or expired SSO state; start the login again")
        if error or not code:
            raise _sso_error("The SSO provider did not sign you in")
        metadata = await self._metadata(provider)
        id_token = await self._exchange_code(provider, metadata, code, record["verifier"])
        claims = await self._verify_id_token(provider, metadata, id_token, record["nonce"])
        actor = Actor(ip_address=ip_address, user_agent=user_agent)
        async with self.resources.database.transaction() as conn:
            user_id, roles = await self._provision(conn, provider, claims, actor)
            user = await users.by_id(conn, user_id)
            if user is None or not user.is_active:
                raise Unauthorized("This account is disabled", code="invalid_credentials")
            tokens = await self.start_session(
                conn,
                user_id=user_id,
                username=user.username,
                roles=roles,
                amr="sso",
                mfa_enrolled=True,
                ip_address=ip_address,
                user_agent=user_agent,
            )
            await audit.record(
                conn,
                "login",
                actor=Actor(user_id, ip_address, user_agent),
                target_id=user_id,
                details={"amr": "sso", "provider": name},
            )
        self.forget_profile(user_id)
        return tokens

    async def _take_state(self, state: str | None) -> dict[str, Any] | None:
        if not state:
            return None
        key = f"auth:sso:state:{state}"
        raw = await self.resources.cache.get(key)
        if raw is None or await self.resources.cache.delete(key) != 1:
            return None
        record: dict[str, Any] = json.loads(raw)
        return record

    async def _exchange_code(
        self, provider: Provider, metadata: dict[str, Any], code: str, verifier: str
    ) -> str:
        try:
            response = await self.http.post(
                metadata["token_endpoint"],
                data={
                    "grant_type": "authorization_code",
                    "code": code,
                    "redirect_uri": provider.redirect_uri,
                    "code_verifier": verifier,
                },
                auth=(provider.client_id, provider.client_secret),
            )
        except httpx2.HTTPError:
            raise ServiceUnavailable("The SSO provider cannot be reached") from None
        if response.status_code != 200:
            raise _sso_error("The SSO provider refused the sign-in code")
        token = response.json().get("id_token")
        if not isinstance(token, str):
            raise _sso_error("The SSO provider returned no ID token")
        return token

    async def _verify_id_token(
        self, provider: Provider, metadata: dict[str, Any], token: str, nonce: str
    ) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise _sso_error("Malformed ID token") from None
        algorithm = header.get("alg")
        allowed = ID_TOKEN_ALGORITHMS & set(
            metadata.get("id_token_signing_alg_values_supported", [])
        )
        if algorithm not in allowed:
            raise _sso_error("ID token algorithm not accepted")
        key = await self._provider_key(provider, metadata, str(header.get("kid", "")))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=provider.client_id,
                issuer=provider.issuer,
                leeway=self.settings.auth.leeway,
                options={"require": ["iss", "aud", "sub", "exp", "iat"]},
            )
        except jwt.InvalidTokenError:
            raise _sso_error("Invalid ID token") from None
        if not secrets.compare_digest(str(claims.get("nonce", "")), nonce):
            raise _sso_error("ID token nonce mismatch")
        return claims

    async def _provider_key(self, provider: Provider, metadata: dict[str, Any], kid: str) -> Any:
        if kid not in provider.keys and time.monotonic() - provider.keys_fetched_at > 30:
            provider.keys_fetched_at = time.monotonic()
            document = await self._get_json(metadata["jwks_uri"])
            try:
                keys = jwt.PyJWKSet.from_dict(document).keys
            except jwt.PyJWKSetError:
                raise ServiceUnavailable("The SSO provider's keys are unusable") from None
            provider.keys = {k.key_id or "": k for k in keys}
        key = provider.keys.get(kid)
        if key is None:
            raise _sso_error("ID token signed with an unknown key")
        return key

    def _mapped_roles(self, provider: Provider, claims: dict[str, Any]) -> list[str]:
        groups = claims.get(provider.groups_claim) or []
        groups = [groups] if isinstance(groups, str) else list(groups)
        roles = {parse_role(provider.role_mapping[g]) for g in groups if g in provider.role_mapping}
        if not roles and provider.default_role:
            roles = {parse_role(provider.default_role)}
        if not roles:
            raise Forbidden("Your SSO groups grant no role here", code="sso_no_role")
        return sorted((r.value for r in roles), key=lambda r: -ROLE_RANK[Role(r)])

    async def _provision(
        self, conn: Any, provider: Provider, claims: dict[str, Any], actor: Actor
    ) -> tuple[str, list[str]]:
        """The linked user (roles re-synced from the IdP), or a new one on first login."""
        roles = self._mapped_roles(provider, claims)
        ident = models.identity
        subject = str(claims["sub"])
        row = (
            await conn.execute(
                select(ident.c.user_id).where(
                    ident.c.provider == provider.name, ident.c.subject == subject
                )
            )
        ).first()
        if row is not None:
            before = await users.roles_of(conn, row.user_id)
            if sorted(before) != sorted(roles):
                await users.set_roles(conn, row.user_id, [Role(r) for r in roles])
                await self.refresh_claims_of_user(conn, row.user_id)
                await audit.record(
                    conn,
                    "roles_changed",
                    actor=actor,
                    target_id=row.user_id,
                    details={"before": before, "after": roles, "source": provider.name},
                )
            return str(row.user_id), roles
        email = str(claims.get("email") or f"{subject}@{provider.name}.sso.invalid")
        base = str(claims.get("preferred_username") or email.split("@", 1)[0])[:140]
        username = base
        while await users.username_exists(conn, username):
            username = f"{base}-{secrets.token_hex(3)}"
        if await users.email_exists(conn, email):
            raise Forbidden(
                "A local account already uses this email; ask an admin to link it",
                code="sso_email_conflict",
            )
        name = str(claims.get("name") or "")
        first, _, last = name.partition(" ")
        user_id = await users.create(
            conn,
            username=username,
            email=email,
            password_hash=None,
            roles=[Role(r) for r in roles],
            first_name=first[:100],
            last_name=last[:100],
        )
        await conn.execute(
            insert(ident).values(
                provider=provider.name,
                subject=subject,
                user_id=user_id,
                created_at=datetime.now(UTC),
            )
        )
        await audit.record(
            conn,
            "user_created",
            actor=actor,
            target_id=user_id,
            details={"roles": roles, "source": provider.name},
        )
        return user_id, roles
