"""TOTP multi-factor authentication through the HTTP API: login with a code or a recovery
code, replay protection, lockout, and roles that require it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyotp

from tests.auth.conftest import AuthClient, auth_settings, bearer, running_auth
from tests.auth.mfa_flow import PASSWORD, delete_totp, enrol, new_user, next_code, wrong_code
from tests.auth.support import claims_of, error_code, login_response, registration_body


class TestLoginWithTotp:
    async def test_login_without_a_code_is_refused_with_mfa_required_and_no_tokens(
        self, auth: AuthClient
    ) -> None:
        await new_user(auth, "mfa-login-nocode")
        await enrol(auth, await auth.login("mfa-login-nocode", PASSWORD))

        response = await login_response(auth, "mfa-login-nocode", PASSWORD)

        assert response.status_code == 401
        body = response.json()
        assert body["error"]["code"] == "mfa_required"
        assert set(body) == {"error"}
        assert "access_token" not in response.text
        assert "refresh_token" not in response.text

    async def test_a_valid_code_gives_tokens_with_otp_in_amr_and_cannot_be_replayed(
        self, auth: AuthClient
    ) -> None:
        await new_user(auth, "mfa-login-code")
        secret, _, _ = await enrol(auth, await auth.login("mfa-login-code", PASSWORD))
        code = next_code(secret)

        response = await login_response(auth, "mfa-login-code", PASSWORD, mfa_token=code)

        assert response.status_code == 200, response.text
        tokens = response.json()
        amr = claims_of(tokens["access_token"])["amr"]
        assert "otp" in amr
        assert "pwd" in amr
        assert (await auth.http.get("/auth/me", headers=bearer(tokens))).status_code == 200

        replay = await login_response(auth, "mfa-login-code", PASSWORD, mfa_token=code)

        assert replay.status_code == 401
        assert error_code(replay) == "mfa_invalid"
        assert "access_token" not in replay.text

    async def test_the_enrolment_code_cannot_be_reused_to_log_in(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await new_user(auth, "mfa-enrol-replay")
        tokens = await auth.login("mfa-enrol-replay", PASSWORD)
        secret = (await auth.http.post("/auth/mfa/totp", headers=bearer(tokens))).json()["secret"]
        code = pyotp.TOTP(secret).now()
        confirmed = await auth.http.post(
            "/auth/mfa/totp/confirm", json={"code": code}, headers=bearer(tokens)
        )
        assert confirmed.status_code == 200

        response = await login_response(auth, "mfa-enrol-replay", PASSWORD, mfa_token=code)

        assert response.status_code == 401
        assert error_code(response) == "mfa_invalid"

    async def test_a_wrong_code_is_refused_with_mfa_invalid(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await new_user(auth, "mfa-login-wrong")
        secret, _, _ = await enrol(auth, await auth.login("mfa-login-wrong", PASSWORD))

        response = await login_response(
            auth, "mfa-login-wrong", PASSWORD, mfa_token=wrong_code(secret)
        )

        assert response.status_code == 401
        assert error_code(response) == "mfa_invalid"

    async def test_a_right_code_with_a_wrong_password_is_invalid_credentials(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await new_user(auth, "mfa-login-badpw")
        secret, _, _ = await enrol(auth, await auth.login("mfa-login-badpw", PASSWORD))

        response = await login_response(
            auth, "mfa-login-badpw", password="Wrong-Password-0", mfa_token=next_code(secret)
        )

        assert response.status_code == 401
        assert error_code(response) == "invalid_credentials"

    async def test_a_recovery_code_works_once_then_fails(self, auth: AuthClient) -> None:
        await new_user(auth, "mfa-recovery")
        _, codes, _ = await enrol(auth, await auth.login("mfa-recovery", PASSWORD))

        first = await login_response(auth, "mfa-recovery", PASSWORD, mfa_token=codes[0])

        assert first.status_code == 200, first.text
        assert "otp" in claims_of(first.json()["access_token"])["amr"]

        again = await login_response(auth, "mfa-recovery", PASSWORD, mfa_token=codes[0])

        assert again.status_code == 401
        assert error_code(again) == "mfa_invalid"
        other = await login_response(auth, "mfa-recovery", PASSWORD, mfa_token=codes[1].upper())
        assert other.status_code == 200, other.text

    async def test_failed_codes_count_toward_the_account_lockout(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        settings = auth_settings(tmp_path, **backend_overrides, **{"auth.lockout_threshold": 3})
        async with running_auth(settings) as auth:
            await new_user(auth, "mfa-lockout")
            secret, codes, _ = await enrol(auth, await auth.login("mfa-lockout", PASSWORD))

            for _ in range(3):
                failed = await login_response(
                    auth, "mfa-lockout", PASSWORD, mfa_token=wrong_code(secret)
                )
                assert failed.status_code == 401
                assert error_code(failed) == "mfa_invalid"

            locked = await login_response(
                auth, "mfa-lockout", PASSWORD, mfa_token=next_code(secret)
            )
            assert locked.status_code == 401
            assert error_code(locked) == "invalid_credentials"
            locked_recovery = await login_response(
                auth, "mfa-lockout", PASSWORD, mfa_token=codes[0]
            )
            assert error_code(locked_recovery) == "invalid_credentials"

            audit = await auth.http.get(
                "/auth/audit",
                params={"event": "account_locked"},
                headers=await auth.admin_headers(),
            )
            assert audit.status_code == 200
            assert audit.json()["total"] == 1

    async def test_a_successful_login_resets_the_failed_code_count(self, tmp_path: Path) -> None:
        settings = auth_settings(tmp_path, **{"auth.lockout_threshold": 3})
        async with running_auth(settings) as auth:
            await new_user(auth, "mfa-reset-count")
            secret, codes, _ = await enrol(auth, await auth.login("mfa-reset-count", PASSWORD))
            for _ in range(2):
                await login_response(
                    auth, "mfa-reset-count", PASSWORD, mfa_token=wrong_code(secret)
                )

            ok = await login_response(auth, "mfa-reset-count", PASSWORD, mfa_token=codes[0])
            assert ok.status_code == 200
            for _ in range(2):
                await login_response(
                    auth, "mfa-reset-count", PASSWORD, mfa_token=wrong_code(secret)
                )

            still_open = await login_response(auth, "mfa-reset-count", PASSWORD, mfa_token=codes[1])
            assert still_open.status_code == 200, still_open.text


class TestMfaRequiredByRole:
    async def test_an_admin_without_mfa_gets_an_enrolment_only_token_until_enrolled(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        settings = auth_settings(
            tmp_path, **backend_overrides, **{"auth.mfa_required_roles": "ADMIN"}
        )
        async with running_auth(settings) as auth:
            await new_user(auth, "mfa-role-admin", ["ADMIN"])

            limited = await auth.login("mfa-role-admin", PASSWORD)

            me = await auth.http.get("/auth/me", headers=bearer(limited))
            assert me.status_code == 200, me.text
            assert me.json()["mfa_enrollment_required"] is True
            assert "users:manage" not in me.json()["permissions"]
            assert "ADMIN" not in claims_of(limited["access_token"]).get("roles", [])
            denied = await auth.http.get("/auth/users", headers=bearer(limited))
            assert denied.status_code == 403
            assert error_code(denied) in {"mfa_enrollment_required", "permission_denied"}

            secret, _, full = await enrol(auth, limited)

            assert claims_of(full["access_token"])["roles"] == ["ADMIN"]
            me = await auth.http.get("/auth/me", headers=bearer(full))
            assert me.json()["mfa_enrollment_required"] is False
            assert me.json()["roles"] == ["ADMIN"]
            listed = await auth.http.get("/auth/users", headers=bearer(full))
            assert listed.status_code == 200, listed.text
            assert listed.json()["total"] >= 2

            kept = await delete_totp(auth, full, PASSWORD)
            assert kept.status_code == 409
            assert error_code(kept) == "mfa_required_by_role"
            assert (await auth.http.get("/auth/me", headers=bearer(full))).json()["mfa_enabled"]

            again = await login_response(
                auth, "mfa-role-admin", PASSWORD, mfa_token=next_code(secret)
            )
            assert again.status_code == 200
            assert claims_of(again.json()["access_token"])["roles"] == ["ADMIN"]

    async def test_roles_outside_the_setting_are_not_affected(self, tmp_path: Path) -> None:
        settings = auth_settings(tmp_path, **{"auth.mfa_required_roles": "ADMIN"})
        async with running_auth(settings) as auth:
            await new_user(auth, "mfa-role-agent", ["AGENT"])
            tokens = await auth.login("mfa-role-agent", PASSWORD)

            me = await auth.http.get("/auth/me", headers=bearer(tokens))

            assert me.json()["mfa_enrollment_required"] is False
            assert claims_of(tokens["access_token"])["roles"] == ["AGENT"]
            assert (
                await auth.http.get("/auth/sessions", headers=bearer(tokens))
            ).status_code == 200

    async def test_an_enrolment_only_token_cannot_use_other_routes(self, tmp_path: Path) -> None:
        settings = auth_settings(tmp_path, **{"auth.mfa_required_roles": "ADMIN"})
        async with running_auth(settings) as auth:
            await new_user(auth, "mfa-role-limited", ["ADMIN"])
            limited = bearer(await auth.login("mfa-role-limited", PASSWORD))

            for method, url in [
                ("GET", "/auth/sessions"),
                ("GET", "/auth/audit"),
                ("DELETE", "/auth/sessions"),
            ]:
                response = await auth.http.request(method, url, headers=limited)
                assert response.status_code == 403, (method, url)
                assert error_code(response) in {"mfa_enrollment_required", "permission_denied"}
            register = await auth.http.post(
                "/auth/register",
                json=registration_body("made-by-limited", PASSWORD, ["AGENT"]),
                headers=limited,
            )
            assert register.status_code == 403
