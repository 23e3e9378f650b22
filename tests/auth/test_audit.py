"""The audit log through the HTTP API: who may read it, what it records about security
events and administration, and its filters and pages.

Every response in these tests passes through ``no_secrets`` (see ``tests/auth/admin_api.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from tests.auth.admin_api import PASSWORD, WRONG_PASSWORD, watched
from tests.auth.conftest import ADMIN_PASSWORD, AuthClient, auth_settings, running_auth
from tests.auth.support import assert_error, login_response


async def audit_page(api: AuthClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    response = await api.http.get("/auth/audit", params=params, headers=headers)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


class TestAuditLog:
    async def test_reading_the_audit_log_needs_audit_read(self, api: AuthClient) -> None:
        for role in ("VIEWER", "AGENT", "SUPERVISOR"):
            headers = await api.user_headers(f"audit-{role.lower()}", PASSWORD, [role])
            assert_error(
                await api.http.get("/auth/audit", headers=headers), 403, "permission_denied"
            )
        admin = await api.user_headers("audit-admin", PASSWORD, ["ADMIN"])
        assert (await api.http.get("/auth/audit", headers=admin)).status_code == 200

    async def test_security_events_are_listed_newest_first_and_filtered(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        settings = auth_settings(tmp_path, **backend_overrides, **{"auth.lockout_threshold": 3})
        async with running_auth(settings) as client:
            api = watched(client)
            admin = await api.admin_headers()
            root_id = (await api.http.get("/auth/me", headers=admin)).json()["id"]
            user_id = await api.create_user("audited-user", PASSWORD, ["AGENT"])
            probe = {"User-Agent": "Audit-Probe/1.0"}
            failed = await login_response(api, "audited-user", WRONG_PASSWORD, headers=probe)
            assert failed.status_code == 401
            assert (
                await login_response(api, "audited-user", PASSWORD, headers=probe)
            ).status_code == 200
            mark = datetime.now(UTC)
            changed = await api.http.put(
                f"/auth/users/{user_id}/roles", json={"roles": ["SUPERVISOR"]}, headers=admin
            )
            assert changed.status_code == 200
            for _ in range(3):
                await login_response(api, "audited-user", WRONG_PASSWORD, headers=probe)

            everything = await audit_page(api, admin, limit=200)

            items = everything["items"]
            assert everything["total"] == len(items)
            assert [e["id"] for e in items] == sorted((e["id"] for e in items), reverse=True)
            times = [datetime.fromisoformat(e["at"]) for e in items]
            assert times == sorted(times, reverse=True)
            assert items[0]["event"] == "account_locked"
            for text in (PASSWORD, WRONG_PASSWORD, ADMIN_PASSWORD, "$argon2"):
                assert text not in str(everything)

            failures = await audit_page(
                api, admin, event="login", outcome="failure", target_id=user_id
            )
            assert failures["total"] == 4
            for event in failures["items"]:
                assert (event["event"], event["outcome"]) == ("login", "failure")
                assert event["target_id"] == user_id
                assert event["ip_address"] == "127.0.0.1"
                assert event["user_agent"] == "Audit-Probe/1.0"

            (success,) = (
                await audit_page(api, admin, event="login", outcome="success", target_id=user_id)
            )["items"]
            assert success["ip_address"] == "127.0.0.1"
            assert success["user_agent"] == "Audit-Probe/1.0"
            assert success["actor_id"] == user_id

            (change,) = (await audit_page(api, admin, event="roles_changed"))["items"]
            assert change["target_id"] == user_id
            assert change["actor_id"] == root_id
            assert change["details"]["before"] == ["AGENT"]
            assert change["details"]["after"] == ["SUPERVISOR"]

            (locked,) = (await audit_page(api, admin, event="account_locked"))["items"]
            assert locked["target_id"] == user_id
            assert locked["user_agent"] == "Audit-Probe/1.0"

            about_user = await audit_page(api, admin, target_id=user_id, limit=200)
            assert {e["target_id"] for e in about_user["items"]} == {user_id}
            assert {"user_created", "login", "roles_changed", "account_locked"} <= {
                e["event"] for e in about_user["items"]
            }

            recent = await audit_page(api, admin, since=mark.isoformat(), limit=200)
            recent_events = [e["event"] for e in recent["items"]]
            assert "roles_changed" in recent_events
            assert "user_created" not in recent_events
            assert recent_events.count("login") == 3
            assert all(datetime.fromisoformat(e["at"]) >= mark for e in recent["items"])
            seoul = mark.astimezone(timezone(timedelta(hours=9))).isoformat()
            naive_utc = mark.replace(tzinfo=None).isoformat()
            for since in (seoul, naive_utc):
                same_instant = await audit_page(api, admin, since=since, limit=200)
                assert [e["id"] for e in same_instant["items"]] == [
                    e["id"] for e in recent["items"]
                ], since
            before_mark = await audit_page(api, admin, until=seoul, limit=200)
            assert before_mark["total"] + recent["total"] == everything["total"]
            assert "user_created" in [e["event"] for e in before_mark["items"]]

            paged = await audit_page(api, admin, limit=2, offset=1)
            assert paged["total"] == everything["total"]
            assert (paged["limit"], paged["offset"]) == (2, 1)
            assert [e["id"] for e in paged["items"]] == [e["id"] for e in items[1:3]]

    async def test_admin_actions_are_recorded_with_their_actor(
        self, api_embedded: AuthClient
    ) -> None:
        api = api_embedded
        acting = await api.user_headers("acting-auditor", PASSWORD, ["ADMIN"])
        acting_id = (await api.http.get("/auth/me", headers=acting)).json()["id"]
        target = await api.create_user("acted-on", PASSWORD, ["AGENT"])
        calls: list[tuple[str, str, dict[str, Any] | None]] = [
            ("POST", f"/auth/users/{target}/disable", None),
            ("POST", f"/auth/users/{target}/enable", None),
            ("POST", f"/auth/users/{target}/unlock", None),
            ("POST", f"/auth/users/{target}/password-reset", {}),
            ("DELETE", f"/auth/users/{target}", None),
        ]
        for method, url, body in calls:
            response = await api.http.request(method, url, json=body, headers=acting)
            assert response.status_code < 300, response.text

        page = await audit_page(api, acting, actor_id=acting_id, target_id=target)

        assert [e["event"] for e in page["items"]] == [
            "user_deleted",
            "password_reset",
            "account_unlocked",
            "user_enabled",
            "user_disabled",
        ]
        assert page["items"][1]["details"] == {"generated": True, "temporary": True}
