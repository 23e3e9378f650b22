"""Password login: one answer for every failure, lockout, IP throttling, legacy hashes."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from sqlalchemy import select, update

from aicc.auth import models
from tests.auth.conftest import (
    ADMIN_PASSWORD,
    ADMIN_USERNAME,
    AuthClient,
    auth_settings,
    bearer,
    running_auth,
)
from tests.auth.support import login_response

PASSWORD = "Quiet-Harbour-Lights-7"


class TestFailuresLookAlike:
    async def test_unknown_wrong_disabled_and_locked_give_one_answer(self, tmp_path: Path) -> None:
        settings = auth_settings(tmp_path, **{"auth.lockout_threshold": 2})
        async with running_auth(settings) as auth:
            disabled_id = await auth.create_user("disabled-agent", PASSWORD, ["agent"])
            await auth.create_user("locked-agent", PASSWORD, ["agent"])
            admin = await auth.admin_headers()
            await auth.http.post(f"/auth/users/{disabled_id}/disable", headers=admin)
            for _ in range(2):
                await login_response(auth, "locked-agent", "wrong-password-1")
            answers = [
                await login_response(auth, "nobody-here", PASSWORD),
                await login_response(auth, ADMIN_USERNAME, "wrong-password-1"),
                await login_response(auth, "disabled-agent", PASSWORD),
                await login_response(auth, "locked-agent", PASSWORD),
            ]
        bodies = [
            (r.status_code, r.json()["error"]["code"], r.json()["error"]["message"])
            for r in answers
        ]
        assert bodies == [(401, "invalid_credentials", "Invalid username or password")] * 4
        assert all("access_token" not in r.text for r in answers)

    async def test_username_is_case_insensitive(self, auth: AuthClient) -> None:
        tokens = await auth.login(ADMIN_USERNAME.upper(), ADMIN_PASSWORD)
        assert tokens["access_token"]

    async def test_password_is_compared_exactly(self, auth_embedded: AuthClient) -> None:
        long_password = "a-long-passphrase-for-the-night-shift " * 3
        await auth_embedded.create_user("night-owl", long_password, ["agent"])
        assert (
            await login_response(auth_embedded, "night-owl", long_password[:-1])
        ).status_code == 401
        assert (
            await login_response(auth_embedded, "night-owl", long_password.upper())
        ).status_code == 401
        assert (await login_response(auth_embedded, "night-owl", long_password)).status_code == 200


class TestLockout:
    async def test_account_locks_then_admin_unlocks(self, tmp_path: Path) -> None:
        settings = auth_settings(tmp_path, **{"auth.lockout_threshold": 3})
        async with running_auth(settings) as auth:
            user_id = await auth.create_user("shift-agent", PASSWORD, ["agent"])
            for _ in range(3):
                assert (await login_response(auth, "shift-agent", "nope-nope-1")).status_code == 401
            assert (await login_response(auth, "shift-agent", PASSWORD)).status_code == 401
            admin = await auth.admin_headers()
            unlocked = await auth.http.post(f"/auth/users/{user_id}/unlock", headers=admin)
            assert unlocked.status_code == 204
            assert (await login_response(auth, "shift-agent", PASSWORD)).status_code == 200
            audit = await auth.http.get(
                "/auth/audit", params={"event": "account_locked"}, headers=admin
            )
            assert audit.json()["total"] == 1

    async def test_success_resets_the_counter(self, tmp_path: Path) -> None:
        settings = auth_settings(tmp_path, **{"auth.lockout_threshold": 3})
        async with running_auth(settings) as auth:
            await auth.create_user("steady-agent", PASSWORD, ["agent"])
            for _ in range(3):
                for _ in range(2):
                    await login_response(auth, "steady-agent", "typo-typo-1")
                assert (await login_response(auth, "steady-agent", PASSWORD)).status_code == 200


class TestIpThrottling:
    async def test_failure_flood_from_one_ip_gets_429(self, tmp_path: Path) -> None:
        settings = auth_settings(
            tmp_path, **{"auth.ip_failure_limit": 5, "auth.lockout_threshold": 50}
        )
        async with running_auth(settings) as auth:
            for i in range(5):
                assert (
                    await login_response(auth, f"guess-{i}", "guess-guess-1")
                ).status_code == 401
            flooded = await login_response(auth, ADMIN_USERNAME, ADMIN_PASSWORD)
        assert flooded.status_code == 429
        assert flooded.json()["error"]["code"] == "too_many_attempts"
        assert 1 <= int(flooded.headers["retry-after"]) <= 300

    async def test_successful_logins_from_one_ip_are_not_throttled(self, tmp_path: Path) -> None:
        settings = auth_settings(tmp_path, **{"auth.ip_failure_limit": 3})
        async with running_auth(settings) as auth:
            results = await asyncio.gather(
                *(login_response(auth, ADMIN_USERNAME, ADMIN_PASSWORD) for _ in range(12))
            )
        assert [r.status_code for r in results] == [200] * 12


class TestLegacyHashes:
    async def test_bcrypt_hash_verifies_and_is_rehashed(self, auth: AuthClient) -> None:
        user_id = await auth.create_user("legacy-agent", PASSWORD, ["agent"])
        legacy = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        database = auth.service.resources.database
        async with database.transaction() as conn:
            await conn.execute(
                update(models.user).where(models.user.c.id == user_id).values(password_hash=legacy)
            )
        assert (await login_response(auth, "legacy-agent", "Wrong-Horse-1")).status_code == 401
        assert (await login_response(auth, "legacy-agent", PASSWORD)).status_code == 200
        async with database.connect() as conn:
            stored = (
                await conn.execute(
                    select(models.user.c.password_hash).where(models.user.c.id == user_id)
                )
            ).scalar_one()
        assert stored.startswith("$argon2id$")
        assert (await login_response(auth, "legacy-agent", PASSWORD)).status_code == 200


class TestLoginIsAudited:
    async def test_success_and_failure_record_ip_and_user_agent(self, auth: AuthClient) -> None:
        await login_response(
            auth, ADMIN_USERNAME, "not-it-1", headers={"User-Agent": "softphone/2.1"}
        )
        tokens = await auth.login(ADMIN_USERNAME, ADMIN_PASSWORD)
        page = (
            await auth.http.get("/auth/audit", params={"event": "login"}, headers=bearer(tokens))
        ).json()
        outcomes = [(e["outcome"], e["user_agent"]) for e in page["items"]]
        assert ("failure", "softphone/2.1") in outcomes
        assert any(o == "success" for o, _ in outcomes)
        assert all(e["ip_address"] for e in page["items"])


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "x"},
        {"username": "x", "password": ""},
        {"username": "x", "password": "y", "is_admin": True},
        {"username": ["x"], "password": "y"},
    ],
)
async def test_malformed_login_bodies_are_422(auth_embedded: AuthClient, body: Any) -> None:
    response = await auth_embedded.http.post("/auth/login", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["code"] == "validation_error"
