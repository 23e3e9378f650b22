"""The user's tokens on the server: verified when received, refreshed before they expire.

A refresh runs under the session's lock on the freshly read session, so concurrent requests
of one session (a page and its event stream, two tabs, two replicas) use the refresh token
once: the first refreshes, the others find the new pair.
"""

from __future__ import annotations

import time
from typing import Any

from aicc.console.errors import SignInRequired
from aicc.console.sessions import SessionData, SessionStore, SignedInUser
from aicc.console.upstream import Caller, Upstreams, error_of
from aicc.core.errors import Unauthorized
from aicc.core.tokens import Principal, TokenVerifier

REFRESH_MARGIN = 30.0
"""Seconds before expiry at which an access token is refreshed rather than used."""
SESSION_PROBLEMS = frozenset(
    {"missing_token", "invalid_token", "token_expired", "token_revoked", "unauthorized"}
)
"""401 codes that mean the session's token, not the request, is the problem."""


class TokenKeeper:
    def __init__(self, upstreams: Upstreams, verifier: TokenVerifier, store: SessionStore) -> None:
        self.upstreams = upstreams
        self.verifier = verifier
        self.store = store

    async def verified_user(
        self, tokens: dict[str, Any], *, previous: SignedInUser | None = None
    ) -> tuple[SignedInUser, float]:
        """The user the new access token names (its signature and claims checked) and when
        it expires; names shown on pages are kept from ``previous``."""
        try:
            principal = await self.verifier.verify(str(tokens["access_token"]))
        except Unauthorized:
            raise SignInRequired("the auth service's token did not verify") from None
        return user_of(principal, previous), float(principal.claims["exp"])

    def keep(
        self, data: SessionData, tokens: dict[str, Any], user: SignedInUser, expires: float
    ) -> None:
        data.user = user
        data.access_token = str(tokens["access_token"])
        data.refresh_token = str(tokens["refresh_token"])
        data.access_expires_at = expires
        data.pending_login = None

    async def current(self, session_id: str, data: SessionData, caller: Caller) -> SessionData:
        """``data`` with an access token that is valid now: verified (revocations heard
        through the cache included), refreshed when close to expiry or refused."""
        if data.user is None or data.access_token is None:
            raise SignInRequired()
        if data.access_expires_at - time.time() < REFRESH_MARGIN:
            return await self.refresh(session_id, caller)
        try:
            await self.verifier.verify(data.access_token)
        except Unauthorized as exc:
            if exc.error_code in ("token_expired", "token_revoked"):
                return await self.refresh(session_id, caller, stale=data.access_token)
            await self.store.delete(session_id)
            raise SignInRequired(session_ended=True) from None
        return data

    async def refresh(
        self, session_id: str, caller: Caller, *, stale: str | None = None
    ) -> SessionData:
        """Exchange the refresh token, unless another request already did; ``stale`` is an
        access token a service refused (roles changed): refresh even if not expired."""

        async def exchange(current: SessionData) -> None:
            if current.user is None or current.refresh_token is None:
                raise SignInRequired(session_ended=True)
            if stale is not None and current.access_token != stale:
                return  # someone else already replaced it
            if stale is None and current.access_expires_at - time.time() >= REFRESH_MARGIN:
                return
            response = await self.upstreams.send(
                "auth",
                "POST",
                "/auth/refresh",
                json={"refresh_token": current.refresh_token},
                caller=caller,
            )
            if response.status_code != 200:
                code, _, _ = error_of(response)
                raise SignInRequired(code, session_ended=True)
            tokens = response.json()
            user, expires = await self.verified_user(tokens, previous=current.user)
            self.keep(current, tokens, user, expires)

        try:
            updated = await self.store.update(session_id, exchange)
        except SignInRequired as exc:
            await self.store.delete(session_id)
            exc.session_ended = True
            raise
        if updated is None:
            raise SignInRequired(session_ended=True)
        return updated


def user_of(principal: Principal, previous: SignedInUser | None = None) -> SignedInUser:
    same = previous is not None and previous.user_id == principal.user_id
    username = principal.username or principal.user_id
    return SignedInUser(
        user_id=principal.user_id,
        username=username,
        auth_session_id=principal.session_id,
        roles=list(principal.roles),
        permissions=sorted(principal.permissions),
        acr=principal.claims.get("acr"),
        display_name=previous.display_name if same and previous else "",
        email=previous.email if same and previous else "",
    )
