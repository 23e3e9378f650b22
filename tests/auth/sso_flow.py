"""What the single sign-on tests share: the relying party's registration at the OIDC provider
(``tests/auth/oidc_provider.py``), the ``corp`` provider entry, and the browser's part of
the flow.

The browser's part is played by two clients: the ASGI client of the auth app and a real
HTTP client that follows the provider's authorize redirect by hand.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx2

if TYPE_CHECKING:
    from tests.auth.conftest import AuthClient

CALLBACK = "http://testserver/auth/sso/corp/callback"
PARTNER_CALLBACK = "http://testserver/auth/sso/partner/callback"
CLIENT = {
    "client_id": "aicc-rp",
    "client_secret": "rp-secret-0123456789",
    "redirect_uris": [CALLBACK, PARTNER_CALLBACK],
}
ROLE_MAPPING = {"cc-supervisors": "SUPERVISOR", "cc-agents": "agent"}


def corp_provider(issuer: str, **extra: Any) -> dict[str, Any]:
    return {
        "name": "corp",
        "issuer": issuer,
        "client_id": CLIENT["client_id"],
        "client_secret": CLIENT["client_secret"],
        "redirect_uri": CALLBACK,
        "groups_claim": "groups",
        "role_mapping": ROLE_MAPPING,
        **extra,
    }


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


async def start_login(auth: AuthClient, provider: str = "corp") -> str:
    """GET our login route; returns where it sends the browser."""
    response = await auth.http.get(f"/auth/sso/{provider}/login")
    assert response.status_code == 302, response.text
    location: str = response.headers["location"]
    return location


async def authorize(browser: httpx2.AsyncClient, authorize_url: str) -> dict[str, str]:
    """Follow the authorize URL at the provider; returns the query it redirects back with."""
    response = await browser.get(authorize_url)
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.split("?", 1)[0] in (CALLBACK, PARTNER_CALLBACK)
    return query_of(location)


async def callback(
    auth: AuthClient, params: dict[str, str], provider: str = "corp"
) -> httpx2.Response:
    return await auth.http.get(f"/auth/sso/{provider}/callback", params=params)


async def sso_login(
    auth: AuthClient, browser: httpx2.AsyncClient, provider: str = "corp"
) -> httpx2.Response:
    """The whole browser round trip; returns the callback's response."""
    params = await authorize(browser, await start_login(auth, provider))
    return await callback(auth, params, provider)


async def sso_tokens(
    auth: AuthClient, browser: httpx2.AsyncClient, provider: str = "corp"
) -> dict[str, Any]:
    response = await sso_login(auth, browser, provider)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


async def users_named(auth: AuthClient, query: str) -> list[dict[str, Any]]:
    response = await auth.http.get(
        "/auth/users", params={"q": query}, headers=await auth.admin_headers()
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items
