from __future__ import annotations

import base64
import re
import time
from urllib.parse import parse_qs, unquote, urlparse

import pyotp
import pytest

from aicc.auth.totp import (
    RECOVERY_CODE_ALPHABET,
    hash_recovery_code,
    matching_step,
    new_recovery_codes,
    new_secret,
    normalize_recovery_code,
    provisioning_uri,
)

RFC6238_SECRET = base64.b32encode(b"12345678901234567890").decode()
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
AT = 1_700_000_015.0
STEP = int(AT // 30)


def code_at(step: int, secret: str = SECRET) -> str:
    return pyotp.TOTP(secret).generate_otp(step)


@pytest.mark.parametrize(
    ("at", "code"), [(59, "287082"), (1111111109, "081804"), (1234567890, "005924")]
)
def test_rfc6238_vectors(at: float, code: str) -> None:
    assert matching_step(RFC6238_SECRET, code, at=at, window=0) == int(at // 30)


def test_code_for_now_returns_current_step() -> None:
    secret = new_secret()
    now = time.time()
    assert matching_step(secret, pyotp.TOTP(secret).at(now)) == int(now // 30)


def test_code_at_fixed_time() -> None:
    assert matching_step(SECRET, code_at(STEP), at=AT) == STEP


def test_previous_and_next_step_accepted_within_window() -> None:
    assert matching_step(SECRET, code_at(STEP - 1), at=AT, window=1) == STEP - 1
    assert matching_step(SECRET, code_at(STEP + 1), at=AT, window=1) == STEP + 1
    assert matching_step(SECRET, code_at(STEP - 1), at=AT, window=0) is None


def test_code_three_steps_ago_rejected() -> None:
    old = code_at(STEP - 3)
    assert matching_step(SECRET, old, at=AT, window=1) is None
    assert matching_step(SECRET, old, at=AT, window=3) == STEP - 3


def test_wrong_secret_rejected() -> None:
    assert matching_step(new_secret(), code_at(STEP), at=AT) is None


def test_whitespace_around_and_inside_code_ignored() -> None:
    code = code_at(STEP)
    assert matching_step(SECRET, f" {code[:3]} {code[3:]}\n", at=AT) == STEP


@pytest.mark.parametrize(
    "code",
    ["", "12345", "1234567", "abcdef", "12345a", "１２３４５６", "12-345", "-12345", "\x00" * 6],
)
def test_malformed_code_rejected(code: str) -> None:
    assert matching_step(SECRET, code, at=AT) is None


def test_early_times_do_not_use_negative_steps() -> None:
    assert matching_step(SECRET, code_at(0), at=1.0) == 0


def test_negative_window_is_an_error() -> None:
    with pytest.raises(ValueError, match="window"):
        matching_step(SECRET, code_at(STEP), at=AT, window=-1)


def test_new_secret_is_160_bit_base32() -> None:
    secret = new_secret()
    assert len(base64.b32decode(secret)) == 20
    assert secret != new_secret()


def test_provisioning_uri() -> None:
    uri = provisioning_uri(SECRET, account="alice@example.com", issuer="AICC Contact Center")
    parsed = urlparse(uri)
    assert (parsed.scheme, parsed.netloc) == ("otpauth", "totp")
    assert "alice@example.com" in unquote(parsed.path)
    query = parse_qs(parsed.query)
    assert query["secret"] == [SECRET]
    assert query["issuer"] == ["AICC Contact Center"]


def test_recovery_codes_are_unique_and_human_friendly() -> None:
    codes = new_recovery_codes()
    assert len(codes) == 10
    assert len(set(codes)) == 10
    group = f"[{RECOVERY_CODE_ALPHABET}]{{5}}"
    assert all(re.fullmatch(f"{group}-{group}-{group}", code) for code in codes)
    assert not set("01ilo") & set(RECOVERY_CODE_ALPHABET)
    assert len(new_recovery_codes(3)) == 3
    assert new_recovery_codes(0) == []


def test_recovery_code_hash_ignores_formatting() -> None:
    code = "7kq2m-xh4ta-pz9fe"
    variants = [
        code,
        " 7KQ2M-XH4TA-PZ9FE ",
        "7kq2mxh4tapz9fe",
        "7kq2m xh4ta pz9fe",
        "7KQ2M--xh4ta\tpz9fe",
    ]
    assert {normalize_recovery_code(v) for v in variants} == {"7kq2mxh4tapz9fe"}
    assert {hash_recovery_code(v) for v in variants} == {hash_recovery_code(code)}
    assert re.fullmatch("[0-9a-f]{64}", hash_recovery_code(code))


def test_recovery_code_hashes_differ() -> None:
    codes = new_recovery_codes()
    assert len({hash_recovery_code(c) for c in codes}) == len(codes)
    assert hash_recovery_code("7kq2m-xh4ta-pz9fe") != hash_recovery_code("7kq2m-xh4ta-pz9ff")
