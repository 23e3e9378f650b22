"""TOTP multi-factor authentication through the HTTP API: enrolment, login with a code or a
recovery code, replay protection, lockout, turning it off, and roles that require it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx2
import jwt
import pyotp

from tests.auth.conftest import AuthClient, auth_settings, bearer, running_auth

PASSWORD = "Correct-Horse-Battery-9"


def claims_of(token: str) -> dict[str, Any]:
    """The payload of an access token, read without checking the signature."""
    payload: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return payload


def error_code(response: httpx2.Response) -> str:
    code: str = response.json()["error"]["code"]
    return code


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


async def login_response(
    auth: AuthClient, username: str, password: str = PASSWORD, mfa_token: str | None = None
) -> httpx2.Response:
    body: dict[str, Any] = {"username": username, "password": password}
    if mfa_token is not None:
        body["mfa_token"] = mfa_token
    return await auth.http.post("/auth/login", json=body)


async def refresh(auth: AuthClient, tokens: dict[str, Any]) -> dict[str, Any]:
    response = await auth.http.post(
        "/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
    )
    assert response.status_code == 200, response.text
    pair: dict[str, Any] = response.json()
    return pair


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


class TestEnrolment:
    async def test_enrolment_returns_a_secret_and_an_otpauth_uri_with_the_issuer(
        self, auth: AuthClient
    ) -> None:
        await new_user(auth, "mfa-enrol")
        tokens = await auth.login("mfa-enrol", PASSWORD)

        response = await auth.http.post("/auth/mfa/totp", headers=bearer(tokens))

        assert response.status_code == 200, response.text
        body = response.json()
        secret = body["secret"]
        uri = urlparse(body["otpauth_uri"])
        assert uri.scheme == "otpauth"
        assert uri.netloc == "totp"
        assert "mfa-enrol" in uri.path
        query = parse_qs(uri.query)
        assert query["secret"] == [secret]
        assert query["issuer"] == ["AICC"]
        assert pyotp.TOTP(secret).now().isdigit()

    async def test_confirming_with_a_valid_code_returns_ten_distinct_recovery_codes(
        self, auth: AuthClient
    ) -> None:
        await new_user(auth, "mfa-confirm")
        tokens = await auth.login("mfa-confirm", PASSWORD)
        secret = (await auth.http.post("/auth/mfa/totp", headers=bearer(tokens))).json()["secret"]

        response = await auth.http.post(
            "/auth/mfa/totp/confirm",
            json={"code": pyotp.TOTP(secret).now()},
            headers=bearer(tokens),
        )

        assert response.status_code == 200, response.text
        codes = response.json()["recovery_codes"]
        assert len(codes) == 10
        assert len(set(codes)) == 10
        assert all(isinstance(code, str) and len(code) >= 10 for code in codes)
        me = await auth.http.get("/auth/me", headers=bearer(await refresh(auth, tokens)))
        assert me.json()["mfa_enabled"] is True

    async def test_a_wrong_confirmation_code_is_refused_and_mfa_stays_off(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await new_user(auth, "mfa-wrong-confirm")
        tokens = await auth.login("mfa-wrong-confirm", PASSWORD)
        secret = (await auth.http.post("/auth/mfa/totp", headers=bearer(tokens))).json()["secret"]

        response = await auth.http.post(
            "/auth/mfa/totp/confirm", json={"code": wrong_code(secret)}, headers=bearer(tokens)
        )

        assert response.status_code == 401
        assert error_code(response) == "mfa_invalid"
        me = await auth.http.get("/auth/me", headers=bearer(tokens))
        assert me.json()["mfa_enabled"] is False
        assert (await login_response(auth, "mfa-wrong-confirm")).status_code == 200
        audit = await auth.http.get(
            "/auth/audit",
            params={"event": "mfa_enrolled", "target_id": me.json()["id"]},
            headers=await auth.admin_headers(),
        )
        assert [e["outcome"] for e in audit.json()["items"]] == ["failure"]

    async def test_confirming_without_starting_enrolment_is_a_conflict(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await new_user(auth, "mfa-not-pending")
        tokens = await auth.login("mfa-not-pending", PASSWORD)

        response = await auth.http.post(
            "/auth/mfa/totp/confirm", json={"code": "123456"}, headers=bearer(tokens)
        )

        assert response.status_code == 409
        assert error_code(response) == "mfa_not_pending"

    async def test_enrolling_again_while_enabled_is_a_conflict(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await new_user(auth, "mfa-twice")
        _, _, tokens = await enrol(auth, await auth.login("mfa-twice", PASSWORD))

        response = await auth.http.post("/auth/mfa/totp", headers=bearer(tokens))

        assert response.status_code == 409
        assert error_code(response) == "mfa_already_enabled"

    async def test_enrolment_ends_the_access_tokens_issued_before_it(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await new_user(auth, "mfa-reissue")
        before = await auth.login("mfa-reissue", PASSWORD)

        _, _, after = await enrol(auth, before)

        stale = await auth.http.get("/auth/me", headers=bearer(before))
        assert stale.status_code == 401
        assert error_code(stale) == "token_revoked"
        fresh = await auth.http.get("/auth/me", headers=bearer(after))
        assert fresh.status_code == 200
        assert fresh.json()["mfa_enabled"] is True


class TestLoginWithTotp:
    async def test_login_without_a_code_is_refused_with_mfa_required_and_no_tokens(
        self, auth: AuthClient
    ) -> None:
        await new_user(auth, "mfa-login-nocode")
        await enrol(auth, await auth.login("mfa-login-nocode", PASSWORD))

        response = await login_response(auth, "mfa-login-nocode")

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

        response = await login_response(auth, "mfa-login-code", mfa_token=code)

        assert response.status_code == 200, response.text
        tokens = response.json()
        amr = claims_of(tokens["access_token"])["amr"]
        assert "otp" in amr
        assert "pwd" in amr
        assert (await auth.http.get("/auth/me", headers=bearer(tokens))).status_code == 200

        replay = await login_response(auth, "mfa-login-code", mfa_token=code)

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

        response = await login_response(auth, "mfa-enrol-replay", mfa_token=code)

        assert response.status_code == 401
        assert error_code(response) == "mfa_invalid"

    async def test_a_wrong_code_is_refused_with_mfa_invalid(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await new_user(auth, "mfa-login-wrong")
        secret, _, _ = await enrol(auth, await auth.login("mfa-login-wrong", PASSWORD))

        response = await login_response(auth, "mfa-login-wrong", mfa_token=wrong_code(secret))

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

        first = await login_response(auth, "mfa-recovery", mfa_token=codes[0])

        assert first.status_code == 200, first.text
        assert "otp" in claims_of(first.json()["access_token"])["amr"]

        again = await login_response(auth, "mfa-recovery", mfa_token=codes[0])

        assert again.status_code == 401
        assert error_code(again) == "mfa_invalid"
        other = await login_response(auth, "mfa-recovery", mfa_token=codes[1].upper())
        assert other.status_code == 200, other.text

    async def test_failed_codes_count_toward_the_account_lockout(
        self, tmp_path: Path, backend_overrides: dict[str, Any]
    ) -> None:
        settings = auth_settings(tmp_path, **backend_overrides, **{"auth.lockout_threshold": 3})
        async with running_auth(settings) as auth:
            await new_user(auth, "mfa-lockout")
            secret, codes, _ = await enrol(auth, await auth.login("mfa-lockout", PASSWORD))

            for _ in range(3):
                failed = await login_response(auth, "mfa-lockout", mfa_token=wrong_code(secret))
                assert failed.status_code == 401
                assert error_code(failed) == "mfa_invalid"

            locked = await login_response(auth, "mfa-lockout", mfa_token=next_code(secret))
            assert locked.status_code == 401
            assert error_code(locked) == "invalid_credentials"
            locked_recovery = await login_response(auth, "mfa-lockout", mfa_token=codes[0])
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
                await login_response(auth, "mfa-reset-count", mfa_token=wrong_code(secret))

            ok = await login_response(auth, "mfa-reset-count", mfa_token=codes[0])
            assert ok.status_code == 200
            for _ in range(2):
                await login_response(auth, "mfa-reset-count", mfa_token=wrong_code(secret))

            still_open = await login_response(auth, "mfa-reset-count", mfa_token=codes[1])
            assert still_open.status_code == 200, still_open.text


class TestDisableTotp:
    async def test_turning_mfa_off_needs_the_right_password(self, auth: AuthClient) -> None:
        await new_user(auth, "mfa-disable")
        _, _, tokens = await enrol(auth, await auth.login("mfa-disable", PASSWORD))

        wrong = await delete_totp(auth, tokens, "Not-The-Password-1")

        assert wrong.status_code == 401
        assert error_code(wrong) == "invalid_credentials"
        assert (await auth.http.get("/auth/me", headers=bearer(tokens))).json()["mfa_enabled"]
        assert error_code(await login_response(auth, "mfa-disable")) == "mfa_required"

        right = await delete_totp(auth, tokens, PASSWORD)

        assert right.status_code == 204
        assert right.content == b""
        me = await auth.http.get("/auth/me", headers=bearer(tokens))
        assert me.json()["mfa_enabled"] is False
        plain = await login_response(auth, "mfa-disable")
        assert plain.status_code == 200, plain.text
        assert claims_of(plain.json()["access_token"])["amr"] == ["pwd"]

    async def test_turning_mfa_off_when_it_is_not_on_is_a_conflict(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await new_user(auth, "mfa-disable-off")
        tokens = await auth.login("mfa-disable-off", PASSWORD)

        response = await delete_totp(auth, tokens, PASSWORD)

        assert response.status_code == 409
        assert error_code(response) == "mfa_not_enabled"

    async def test_recovery_codes_stop_working_after_mfa_is_turned_off_and_on(
        self, auth_embedded: AuthClient
    ) -> None:
        auth = auth_embedded
        await new_user(auth, "mfa-reenrol")
        _, old_codes, tokens = await enrol(auth, await auth.login("mfa-reenrol", PASSWORD))
        assert (await delete_totp(auth, tokens, PASSWORD)).status_code == 204

        _, new_codes, _ = await enrol(auth, tokens)

        assert not set(old_codes) & set(new_codes)
        stale = await login_response(auth, "mfa-reenrol", mfa_token=old_codes[0])
        assert error_code(stale) == "mfa_invalid"
        fresh = await login_response(auth, "mfa-reenrol", mfa_token=new_codes[0])
        assert fresh.status_code == 200


class TestSecretIsNeverExposed:
    async def test_no_response_after_enrolment_contains_the_totp_secret(
        self, auth: AuthClient
    ) -> None:
        bodies: list[str] = []

        async def keep_body(response: httpx2.Response) -> None:
            await response.aread()
            bodies.append(response.text)

        await new_user(auth, "mfa-secret")
        tokens = await auth.login("mfa-secret", PASSWORD)
        started = await auth.http.post("/auth/mfa/totp", headers=bearer(tokens))
        secret = started.json()["secret"]
        auth.http.event_hooks["response"].append(keep_body)

        await auth.http.get("/auth/me", headers=bearer(tokens))
        confirmed = await auth.http.post(
            "/auth/mfa/totp/confirm",
            json={"code": pyotp.TOTP(secret).now()},
            headers=bearer(tokens),
        )
        tokens = await refresh(auth, tokens)
        me = await auth.http.get("/auth/me", headers=bearer(tokens))
        admin = await auth.admin_headers()
        user_id = me.json()["id"]
        await auth.http.get(f"/auth/users/{user_id}", headers=admin)
        await auth.http.get("/auth/users", params={"q": "mfa-secret"}, headers=admin)
        await auth.http.get("/auth/audit", headers=admin)
        await login_response(auth, "mfa-secret")
        await login_response(auth, "mfa-secret", mfa_token=next_code(secret))
        await auth.http.get("/auth/sessions", headers=bearer(tokens))

        assert confirmed.status_code == 200
        assert me.json()["mfa_enabled"] is True
        assert len(bodies) >= 10
        for body in bodies:
            assert secret not in body
            assert secret.lower() not in body.lower()
            assert "totp_secret" not in body


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

            again = await login_response(auth, "mfa-role-admin", mfa_token=next_code(secret))
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
                json={
                    "username": "made-by-limited",
                    "email": "made-by-limited@example.com",
                    "password": PASSWORD,
                    "roles": ["AGENT"],
                },
                headers=limited,
            )
            assert register.status_code == 403
