"""What the TOTP tests share: their password, codes a server accepts or refuses right now,
and enrolling or turning TOTP off through the HTTP API."""

from __future__ import annotations

import time
from typing import Any

import httpx2
import pyotp

from tests.auth.conftest import AuthClient, bearer
from tests.auth.support import refresh

PASSWORD = "Correct-Horse-Battery-9"


def next_code(secret: str) -> str:
    """The code of the next time step: accepted (within the skew window) after a code of the
    current step was used, so one test can use two codes without waiting."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def wrong_code(secret: str) -> str:
    """Six digits that match no time step the server might accept now."""
    totp = pyotp.TOTP(secret)
    now = time.time()
    accepted = {totp.at(now + 30 * offset) for offset in range(-3, 4)}
    return next(c for c in (f"{d}" * 6 for d in range(10)) if c not in accepted)


async def enrol(auth: AuthClient, tokens: dict[str, Any]) -> tuple[str, list[str], dict[str, Any]]:
    """Enrol TOTP with the session of ``tokens``; returns the secret, the recovery codes and
    a refreshed token pair (enrolment ends the access tokens issued before it)."""
    started = await auth.http.post("/auth/mfa/totp", headers=bearer(tokens))
    assert started.status_code == 200, started.text
    secret: str = started.json()["secret"]
    confirmed = await auth.http.post(
        "/auth/mfa/totp/confirm",
        json={"code": pyotp.TOTP(secret).now()},
        headers=bearer(tokens),
    )
    assert confirmed.status_code == 200, confirmed.text
    codes: list[str] = confirmed.json()["recovery_codes"]
    return secret, codes, await refresh(auth, tokens)


async def new_user(auth: AuthClient, username: str, roles: list[str] | None = None) -> str:
    return await auth.create_user(username, PASSWORD, roles or ["AGENT"])


async def delete_totp(auth: AuthClient, tokens: dict[str, Any], password: str) -> httpx2.Response:
    return await auth.http.request(
        "DELETE", "/auth/mfa/totp", json={"password": password}, headers=bearer(tokens)
    )
