"""What the user-administration and audit tests share: their passwords, the routes on one
user, and ``watched``, which makes every response of a client pass through ``no_secrets``:
no body may carry a password hash, a TOTP secret or a refresh-token hash."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx2

if TYPE_CHECKING:
    from tests.auth.conftest import AuthClient

PASSWORD = "Admin-Test-Passphrase-31"
WRONG_PASSWORD = "Definitely-Wrong-Guess-64"
UNKNOWN_ID = "00000000-0000-0000-0000-000000000000"
FORBIDDEN_KEYS = frozenset({"password_hash", "totp_secret", "totp_pending_secret", "token_hash"})


def keys_in(value: Any) -> set[str]:
    """Every object key anywhere in a decoded JSON value."""
    if isinstance(value, dict):
        return set(value).union(*(keys_in(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(keys_in(v) for v in value))
    return set()


async def no_secrets(response: httpx2.Response) -> None:
    """No body carries a hash or secret key, nor an argon2 hash anywhere."""
    await response.aread()
    where = f"{response.request.method} {response.request.url.path}"
    assert "$argon2" not in response.text, where
    if response.content and response.headers.get("content-type", "").startswith("application/json"):
        leaked = keys_in(response.json()) & FORBIDDEN_KEYS
        assert not leaked, f"{where} returned {sorted(leaked)}"


def watched(client: AuthClient) -> AuthClient:
    client.http.event_hooks["response"].append(no_secrets)
    return client


def user_routes(base: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    """Every administration route on one user: method, path and body."""
    return [
        ("GET", base, None),
        ("GET", f"{base}/sessions", None),
        ("PATCH", base, {"first_name": "X"}),
        ("DELETE", base, None),
        ("PUT", f"{base}/roles", {"roles": ["AGENT"]}),
        ("POST", f"{base}/disable", None),
        ("POST", f"{base}/enable", None),
        ("POST", f"{base}/unlock", None),
        ("POST", f"{base}/password-reset", {}),
        ("DELETE", f"{base}/sessions", None),
    ]
