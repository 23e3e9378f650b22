"""Signing in through the auth service: password, then (when asked) the MFA code; a token pair
becomes a signed-in session under a new id."""

from __future__ import annotations

import contextlib
import time
from typing import Any
from urllib.parse import urlsplit

from aicc.console.dependencies import RESTRICTED_PAGES, Visit
from aicc.console.errors import ServiceDown, SignInRequired
from aicc.console.sessions import PENDING_LOGIN_TTL, PendingLogin, SessionData

LOGIN_PROBLEMS = {
    "invalid_credentials": "signin.invalid",
    "mfa_invalid": "signin.mfa_invalid",
    "too_many_attempts": "signin.too_many",
    "validation_error": "signin.invalid",
}
PASSWORD_PROBLEMS = {
    "password_too_short": "password.too_short",
    "password_too_long": "password.too_long",
    "password_invalid": "password.invalid",
    "password_common": "password.common",
    "password_contains_username": "password.contains_username",
    "invalid_credentials": "password.current_wrong",
    "validation_error": "password.invalid",
}


def safe_next(target: str | None) -> str:
    """A path on this console to go to after signing in; anything else goes home."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/"
    return target


class LoginOutcome:
    """What the auth service said to a sign-in attempt."""

    def __init__(
        self, tokens: dict[str, Any] | None = None, problem: str | None = None, **values: Any
    ) -> None:
        self.tokens = tokens
        self.problem = problem
        """Message key, or ``mfa`` when the account needs its code."""
        self.values = values


async def attempt_login(
    visit: Visit, username: str, password: str, mfa_code: str | None = None
) -> LoginOutcome:
    body: dict[str, Any] = {"username": username, "password": password}
    if mfa_code:
        body["mfa_token"] = mfa_code
    response = await visit.console.upstreams.send(
        "auth", "POST", "/auth/login", json=body, caller=visit.caller
    )
    if response.status_code == 200:
        return LoginOutcome(tokens=response.json())
    try:
        code = str(response.json()["error"]["code"])
    except (ValueError, KeyError, TypeError):
        code = "invalid_credentials"
    if code == "mfa_required":
        return LoginOutcome(problem="mfa")
    minutes = None
    if response.status_code == 429:
        retry = response.headers.get("retry-after", "60")
        minutes = max(1, -(-int(retry) // 60)) if retry.isdigit() else 1
    return LoginOutcome(problem=LOGIN_PROBLEMS.get(code, "signin.invalid"), minutes=minutes or 1)


async def keep_pending(visit: Visit, username: str, password: str) -> None:
    """The password waits (sealed, in the server-side session) for the MFA code."""
    await visit.ensure_session()

    def pend(data: SessionData) -> None:
        data.pending_login = PendingLogin(username, password, time.time())

    await visit.update(pend)


def pending(visit: Visit) -> PendingLogin | None:
    found = visit.session.pending_login if visit.session is not None else None
    if found is None or time.time() - found.started_at > PENDING_LOGIN_TTL:
        return None
    return found


async def establish(visit: Visit, tokens: dict[str, Any], next_path: str | None) -> str:
    """Make ``tokens`` this browser's signed-in session (under a new id); returns where to
    go: the page the token is restricted to, or ``next_path``."""
    keeper = visit.console.keeper
    current = visit.session
    user, expires = await keeper.verified_user(
        tokens, previous=current.user if current is not None else None
    )
    profile = await visit.console.upstreams.send(
        "auth",
        "GET",
        "/auth/me",
        token=str(tokens["access_token"]),
        caller=visit.caller,
    )
    if profile.status_code == 200:
        me = profile.json()
        names = " ".join(p for p in (me.get("first_name"), me.get("last_name")) if p)
        user.display_name = names.strip()
        user.email = str(me.get("email") or "")
    data = SessionData.anonymous()
    if current is not None:
        data.created_at = current.created_at if current.user is not None else data.created_at
        data.notice = current.notice
    keeper.keep(data, tokens, user, expires)
    await visit.start_signed_in(data)
    if user.restriction is not None:
        return RESTRICTED_PAGES[user.restriction]
    return safe_next(next_path)


async def sign_out(visit: Visit) -> None:
    """End the session at the auth service (every service stops accepting its tokens) and
    here."""
    session, session_id = visit.session, visit.session_id
    if session is not None and session_id is not None and session.user is not None:
        with contextlib.suppress(SignInRequired, ServiceDown):
            fresh = await visit.console.keeper.current(session_id, session, visit.caller)
            await visit.console.upstreams.send(
                "auth", "POST", "/auth/logout", token=fresh.access_token, caller=visit.caller
            )
    await visit.end()
