"""A password an administrator sets is temporary by default: the next sign-in gets a token that
only allows changing it; the change gives a session with full access."""

from __future__ import annotations

from tests.auth.admin_api import PASSWORD
from tests.auth.conftest import AuthClient, bearer
from tests.auth.support import access_claims, assert_error, refresh

NEW_PASSWORD = "Chosen-By-The-User-77"


async def test_a_reset_password_allows_only_changing_it_until_changed(
    api: AuthClient,
) -> None:
    admin = await api.admin_headers()
    user_id = await api.create_user("temp-user", PASSWORD, ["SUPERVISOR"])
    reset = await api.http.post(
        f"/auth/users/{user_id}/password-reset",
        json={"password": "Set-By-Admin-Temporary-5"},
        headers=admin,
    )
    assert reset.status_code == 200, reset.text

    restricted = await api.login("temp-user", "Set-By-Admin-Temporary-5")
    claims = access_claims(restricted)
    me = await api.http.get("/auth/me", headers=bearer(restricted))
    sessions = await api.http.get("/auth/sessions", headers=bearer(restricted))
    still_restricted = await refresh(api, restricted)

    assert claims["acr"] == "password_change"
    assert claims["roles"] == []
    assert me.status_code == 200
    assert me.json()["password_change_required"] is True
    assert_error(sessions, 403, "password_change_required")
    assert access_claims(still_restricted)["acr"] == "password_change"

    changed = await api.http.post(
        "/auth/password",
        json={"current_password": "Set-By-Admin-Temporary-5", "new_password": NEW_PASSWORD},
        headers=bearer(still_restricted),
    )
    assert changed.status_code == 200, changed.text
    full = changed.json()
    assert "acr" not in access_claims(full)
    assert access_claims(full)["roles"] == ["SUPERVISOR"]
    assert (await api.http.get("/auth/sessions", headers=bearer(full))).status_code == 200
    again = await api.login("temp-user", NEW_PASSWORD)
    assert "acr" not in access_claims(again)
    me_after = await api.http.get("/auth/me", headers=bearer(again))
    assert me_after.json()["password_change_required"] is False


async def test_a_reset_marked_not_temporary_gives_full_access(api_embedded: AuthClient) -> None:
    api = api_embedded
    admin = await api.admin_headers()
    user_id = await api.create_user("kept-user", PASSWORD, ["AGENT"])
    reset = await api.http.post(
        f"/auth/users/{user_id}/password-reset",
        json={"password": "Set-By-Admin-Permanent-6", "temporary": False},
        headers=admin,
    )
    assert reset.status_code == 200, reset.text

    tokens = await api.login("kept-user", "Set-By-Admin-Permanent-6")

    assert "acr" not in access_claims(tokens)
    assert access_claims(tokens)["roles"] == ["AGENT"]
