"""RFC 6238 TOTP (SHA-1, 6 digits, 30 s steps) and MFA recovery codes."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time

import pyotp

STEP_SECONDS = 30
DIGITS = 6

RECOVERY_CODE_ALPHABET = "23456789abcdefghjkmnpqrstuvwxyz"
"""Lower-case letters and digits without the easily confused 0, 1, i, l and o."""
RECOVERY_CODE_GROUPS = 3
RECOVERY_CODE_GROUP_LENGTH = 5

_CODE_RE = re.compile(r"[0-9]{6}")
_SEPARATORS_RE = re.compile(r"[\s\-]+")


def new_secret() -> str:
    """A random base32 secret of 160 bits (RFC 4226's recommended length)."""
    return pyotp.random_base32(length=32)


def provisioning_uri(secret: str, *, account: str, issuer: str) -> str:
    """The ``otpauth://totp/...`` URI that authenticator apps read from a QR code."""
    return pyotp.TOTP(secret).provisioning_uri(name=account, issuer_name=issuer)


def current_step(at: float | None = None) -> int:
    return int((time.time() if at is None else at) // STEP_SECONDS)


def matching_step(
    secret: str, code: str, *, at: float | None = None, window: int = 1
) -> int | None:
    """The time step whose code equals ``code``, searching ``window`` steps either side of now.

    Returns None for a wrong or malformed code. Surrounding whitespace and spaces inside the
    code are ignored. Callers must store the returned step and accept only a greater one next
    time, so that a code cannot be replayed.
    """
    if window < 0:
        raise ValueError("window must not be negative")
    candidate = code.strip().replace(" ", "")
    if not _CODE_RE.fullmatch(candidate):
        return None
    totp = pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS)
    now = current_step(at)
    matched: int | None = None
    for step in range(max(now - window, 0), now + window + 1):
        if hmac.compare_digest(totp.generate_otp(step), candidate):
            matched = step
    return matched


def new_recovery_codes(n: int = 10) -> list[str]:
    """``n`` distinct codes like ``7kq2m-xh4ta-pz9fe`` (15 symbols of 31, about 74 bits each)."""
    codes: set[str] = set()
    while len(codes) < n:
        groups = (
            "".join(
                secrets.choice(RECOVERY_CODE_ALPHABET) for _ in range(RECOVERY_CODE_GROUP_LENGTH)
            )
            for _ in range(RECOVERY_CODE_GROUPS)
        )
        codes.add("-".join(groups))
    return sorted(codes)


def normalize_recovery_code(code: str) -> str:
    """Strip, lower-case and drop dashes and whitespace, so formatting variants compare equal."""
    return _SEPARATORS_RE.sub("", code.strip().lower())


def hash_recovery_code(code: str) -> str:
    """SHA-256 hex of the normalised code (adequate because the codes are high-entropy)."""
    return hashlib.sha256(normalize_recovery_code(code).encode()).hexdigest()
