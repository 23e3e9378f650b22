"""A browser's part in the HTTP-level tests: a cookie jar, the CSRF token of the last page,
forms posted from the console's own origin."""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from typing import Any

import httpx2
import pyotp

from tests.console.stack import Stack

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
_SECRET = re.compile(r'data-testid="totp-secret">([A-Z2-7]+)<')
USER_AGENT = "ConsoleTest/1.0 (pytest)"


class Browser:
    def __init__(self, stack: Stack, *, user_agent: str = USER_AGENT, **headers: str) -> None:
        self.stack = stack
        self.http = httpx2.Client(
            base_url=stack.url,
            follow_redirects=False,
            timeout=15,
            headers={"User-Agent": user_agent, **headers},
        )
        self.last: httpx2.Response | None = None

    def close(self) -> None:
        self.http.close()

    @property
    def session_id(self) -> str | None:
        return self.http.cookies.get(self.stack.service.cookie_name)

    def get(self, path: str, **kwargs: Any) -> httpx2.Response:
        self.last = self.http.get(path, **kwargs)
        return self.last

    def follow(self, path: str, limit: int = 5) -> httpx2.Response:
        """GET ``path`` and follow the console's redirects (to a page or to sign in)."""
        response = self.get(path)
        while response.status_code in (302, 303, 307) and limit:
            response = self.get(response.headers["location"])
            limit -= 1
        return response

    def csrf(self) -> str:
        assert self.last is not None, "open a page first"
        return self.csrf_of(self.last.text)

    @staticmethod
    def csrf_of(html: str) -> str:
        found = _CSRF.search(html)
        assert found, "the page has no CSRF token"
        return found[1]

    def post(
        self,
        path: str,
        data: Mapping[str, str | list[str]] | None = None,
        *,
        csrf: str | None = "page",
        origin: str | None = "self",
        **kwargs: Any,
    ) -> httpx2.Response:
        """A form post; by default with the last page's CSRF token and this console's
        ``Origin`` (``csrf=None`` / ``origin=None`` leave them out)."""
        form: dict[str, str | list[str]] = dict(data or {})
        if csrf == "page":
            csrf = self.csrf()
        if csrf is not None:
            form["csrf_token"] = csrf
        headers = dict(kwargs.pop("headers", {}))
        if origin == "self":
            headers["Origin"] = self.stack.url
        elif origin is not None:
            headers["Origin"] = origin
        self.last = self.http.post(path, data=form, headers=headers, **kwargs)
        return self.last

    def sign_in(self, username: str, password: str, *, next_path: str = "/") -> httpx2.Response:
        self.get(f"/login?next={next_path}")
        return self.post("/login", {"username": username, "password": password, "next": next_path})

    def sign_in_ok(self, username: str, password: str) -> httpx2.Response:
        response = self.sign_in(username, password)
        assert response.status_code == 303, response.text
        return self.follow(response.headers["location"])

    def totp_secret(self) -> str:
        assert self.last is not None
        found = _SECRET.search(self.last.text)
        assert found, "no TOTP secret on the page"
        return found[1]

    def access_token(self) -> str:
        """The access token the console's server holds for this browser's session."""
        assert self.session_id is not None
        session = self.stack.session(self.session_id)
        assert session is not None and session.access_token is not None
        return session.access_token


def totp_now(secret: str) -> str:
    return pyotp.TOTP(secret).now()


def totp_next(secret: str) -> str:
    """The next time step's code (accepted within the skew window after the current one)."""
    return pyotp.TOTP(secret).at(time.time() + 30)


def totp_wrong(secret: str) -> str:
    """Six digits no time step the server might accept now matches."""
    totp = pyotp.TOTP(secret)
    accepted = {totp.at(time.time() + 30 * step) for step in range(-3, 4)}
    return next(code for code in (str(d) * 6 for d in range(10)) if code not in accepted)
