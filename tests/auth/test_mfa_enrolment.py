"""TOTP multi-factor authentication through the HTTP API: enrolment, turning it off, and
the secret never coming back in a response."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pyotp

from tests.auth.conftest import AuthClient, bearer
from tests.auth.mfa_flow import PASSWORD, delete_totp, enrol, new_user, next_code, wrong_code
from tests.auth.support import claims_of, error_code, kept_bodies, login_response, refresh


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
        assert (await login_response(auth, "mfa-wrong-confirm", PASSWORD)).status_code == 200
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


class TestDisableTotp:
    async def test_turning_mfa_off_needs_the_right_password(self, auth: AuthClient) -> None:
        await new_user(auth, "mfa-disable")
        _, _, tokens = await enrol(auth, await auth.login("mfa-disable", PASSWORD))

        wrong = await delete_totp(auth, tokens, "Not-The-Password-1")

        assert wrong.status_code == 401
        assert error_code(wrong) == "invalid_credentials"
        assert (await auth.http.get("/auth/me", headers=bearer(tokens))).json()["mfa_enabled"]
        assert error_code(await login_response(auth, "mfa-disable", PASSWORD)) == "mfa_required"

        right = await delete_totp(auth, tokens, PASSWORD)

        assert right.status_code == 204
        assert right.content == b""
        me = await auth.http.get("/auth/me", headers=bearer(tokens))
        assert me.json()["mfa_enabled"] is False
        plain = await login_response(auth, "mfa-disable", PASSWORD)
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
        stale = await login_response(auth, "mfa-reenrol", PASSWORD, mfa_token=old_codes[0])
        assert error_code(stale) == "mfa_invalid"
        fresh = await login_response(auth, "mfa-reenrol", PASSWORD, mfa_token=new_codes[0])
        assert fresh.status_code == 200


class TestSecretIsNeverExposed:
    async def test_no_response_after_enrolment_contains_the_totp_secret(
        self, auth: AuthClient
    ) -> None:
        await new_user(auth, "mfa-secret")
        tokens = await auth.login("mfa-secret", PASSWORD)
        started = await auth.http.post("/auth/mfa/totp", headers=bearer(tokens))
        secret = started.json()["secret"]
        bodies = kept_bodies(auth)

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
        await login_response(auth, "mfa-secret", PASSWORD)
        await login_response(auth, "mfa-secret", PASSWORD, mfa_token=next_code(secret))
        await auth.http.get("/auth/sessions", headers=bearer(tokens))

        assert confirmed.status_code == 200
        assert me.json()["mfa_enabled"] is True
        assert len(bodies) >= 10
        for body in bodies:
            assert secret not in body
            assert secret.lower() not in body.lower()
            assert "totp_secret" not in body
