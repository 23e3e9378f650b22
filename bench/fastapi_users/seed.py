"""Register a user on the fastapi-users peer (POST /auth/register) and log in (stdlib only).

python bench/fastapi_users/seed.py http://127.0.0.1:8000 [--email E] [--password P]
"""

from __future__ import annotations

import argparse
import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

EMAIL = "bench@example.com"
PASSWORD = "correct-horse-battery-staple"  # noqa: S105 (a throwaway benchmark user)


def _post(url: str, body: bytes, content_type: str, timeout: float) -> tuple[int, Any]:
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {url}")
    headers = {"Content-Type": content_type}
    request = urllib.request.Request(url, data=body, method="POST", headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


def register(
    base_url: str, email: str = EMAIL, password: str = PASSWORD, timeout: float = 30.0
) -> dict[str, Any]:
    """Create the user; an already registered user is fine (returns ``{"email": ...}``)."""
    body = json.dumps({"email": email, "password": password}).encode()
    status, data = _post(f"{base_url}/auth/register", body, "application/json", timeout)
    if status == 201:
        return dict(data)
    if (
        status == 400
        and isinstance(data, dict)
        and data.get("detail") == "REGISTER_USER_ALREADY_EXISTS"
    ):
        return {"email": email}
    raise RuntimeError(f"register failed: {status} {data}")


def login_form(email: str = EMAIL, password: str = PASSWORD) -> bytes:
    """The form body of POST /auth/jwt/login (OAuth2 password flow: username + password)."""
    return urllib.parse.urlencode({"username": email, "password": password}).encode()


def login(
    base_url: str, email: str = EMAIL, password: str = PASSWORD, timeout: float = 30.0
) -> str:
    """Log in and return the bearer access token."""
    status, data = _post(
        f"{base_url}/auth/jwt/login",
        login_form(email, password),
        "application/x-www-form-urlencoded",
        timeout,
    )
    if status != 200:
        raise RuntimeError(f"login failed: {status} {data}")
    return str(data["access_token"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("base_url")
    parser.add_argument("--email", default=EMAIL)
    parser.add_argument("--password", default=PASSWORD)
    args = parser.parse_args()
    user = register(args.base_url, args.email, args.password)
    token = login(args.base_url, args.email, args.password)
    print(json.dumps({"user": user, "access_token": token}))


if __name__ == "__main__":
    main()
