"""Password hashing (argon2id, with bcrypt legacy upgrade) and the password policy.

Hashing and verification are CPU- and memory-heavy, so they run on a small dedicated
thread pool; argon2-cffi and bcrypt release the GIL while they work.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

import argon2
import bcrypt
from argon2.exceptions import Argon2Error

from aicc.core.errors import ValidationFailed

T = TypeVar("T")

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 1024
MIN_IDENTIFIER_LENGTH = 4

_BCRYPT_PREFIXES = ("$2a$", "$2b$", "$2y$")
_BCRYPT_MAX_BYTES = 72

EXTRA_COMMON_PASSWORDS: frozenset[str] = frozenset(
    {
        "aicc1234",
        "aicc12345",
        "aiccadmin",
        "password1!",
        "connect123",
        "amazonconnect",
        "contactcenter",
        "callcenter",
        "welcome1",
        "welcome123",
        "changeme",
        "changethis",
        "letmein123",
        "supervisor",
    }
)


@dataclass(frozen=True, slots=True)
class VerifyResult:
    valid: bool
    new_hash: str | None = None
    """Set when the password verified and the stored hash should be replaced with this one."""


_INVALID = VerifyResult(valid=False)


class PasswordHasher:
    """argon2id hashing off the event loop; OWASP parameters by default.

    Verifies argon2 hashes and legacy bcrypt hashes (``$2a$``, ``$2b$``, ``$2y$``); a successful
    verification against a legacy or outdated hash returns the replacement in ``new_hash``.
    """

    def __init__(
        self,
        *,
        memory_kib: int = 19456,
        time_cost: int = 2,
        parallelism: int = 1,
        max_threads: int = 2,
    ) -> None:
        if max_threads < 1:
            raise ValueError("max_threads must be at least 1")
        self._argon2 = argon2.PasswordHasher(
            time_cost=time_cost,
            memory_cost=memory_kib,
            parallelism=parallelism,
            type=argon2.Type.ID,
        )
        self._max_threads = max_threads
        self._executor: ThreadPoolExecutor | None = None
        self._executor_lock = threading.Lock()
        self._closed = False
        self._dummy_hash: str | None = None
        self._dummy_lock = threading.Lock()

    async def hash(self, password: str) -> str:
        return await self._run(functools.partial(self._argon2.hash, password))

    async def verify(self, stored_hash: str, password: str) -> VerifyResult:
        """Never raises for a malformed or unknown hash format: it simply does not verify."""
        return await self._run(functools.partial(self._verify_sync, stored_hash, password))

    async def verify_dummy(self, password: str) -> None:
        """Spend the time of one real verification, for users that do not exist."""
        await self._run(functools.partial(self._verify_dummy_sync, password))

    def close(self) -> None:
        """Shut the thread pool down (waiting for running work); the hasher is unusable after."""
        with self._executor_lock:
            executor, self._executor = self._executor, None
            self._closed = True
        if executor is not None:
            executor.shutdown(wait=True, cancel_futures=True)

    async def _run(self, fn: Callable[[], T]) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._get_executor(), fn)

    def _get_executor(self) -> ThreadPoolExecutor:
        with self._executor_lock:
            if self._closed:
                raise RuntimeError("PasswordHasher is closed")
            if self._executor is None:
                self._executor = ThreadPoolExecutor(
                    max_workers=self._max_threads, thread_name_prefix="aicc-hash"
                )
            return self._executor

    def _verify_sync(self, stored_hash: str, password: str) -> VerifyResult:
        if stored_hash.startswith("$argon2"):
            return self._verify_argon2(stored_hash, password)
        if stored_hash.startswith(_BCRYPT_PREFIXES):
            return self._verify_bcrypt(stored_hash, password)
        return _INVALID

    def _verify_argon2(self, stored_hash: str, password: str) -> VerifyResult:
        try:
            self._argon2.verify(stored_hash, password)
            needs_rehash = self._argon2.check_needs_rehash(stored_hash)
        except (Argon2Error, ValueError):
            return _INVALID
        return VerifyResult(True, self._argon2.hash(password) if needs_rehash else None)

    def _verify_bcrypt(self, stored_hash: str, password: str) -> VerifyResult:
        try:
            secret = password.encode()
            if len(secret) > _BCRYPT_MAX_BYTES:
                return _INVALID
            valid = bcrypt.checkpw(secret, stored_hash.encode("ascii"))
        except ValueError:
            return _INVALID
        return VerifyResult(True, self._argon2.hash(password)) if valid else _INVALID

    def _verify_dummy_sync(self, password: str) -> None:
        with self._dummy_lock:
            if self._dummy_hash is None:
                self._dummy_hash = self._argon2.hash(secrets.token_urlsafe(24))
            dummy_hash = self._dummy_hash
        with contextlib.suppress(Argon2Error, ValueError):
            self._argon2.verify(dummy_hash, password)


@functools.cache
def _common_passwords() -> frozenset[str]:
    from zxcvbn.frequency_lists import FREQUENCY_LISTS

    words = (word.casefold() for word in FREQUENCY_LISTS["passwords"])
    return frozenset(words) | EXTRA_COMMON_PASSWORDS


def check_password_policy(
    password: str, *, username: str | None = None, email: str | None = None
) -> None:
    """Raise ``ValidationFailed`` (with a ``password_*`` code) if ``password`` is not acceptable.

    Length is counted in Unicode code points. There are deliberately no composition rules.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"Password must be at least {MIN_PASSWORD_LENGTH} characters long",
            code="password_too_short",
        )
    if len(password) > MAX_PASSWORD_LENGTH:
        raise ValidationFailed(
            f"Password must be at most {MAX_PASSWORD_LENGTH} characters long",
            code="password_too_long",
        )
    try:
        password.encode()
    except UnicodeEncodeError:
        raise ValidationFailed(
            "Password contains characters that cannot be encoded", code="password_invalid"
        ) from None
    folded = password.casefold()
    if folded in _common_passwords():
        raise ValidationFailed(
            "This password is too common; choose a less predictable one", code="password_common"
        )
    identifiers = [username or "", email.rsplit("@", 1)[0] if email else ""]
    if any(
        len(identifier) >= MIN_IDENTIFIER_LENGTH and identifier.casefold() in folded
        for identifier in identifiers
    ):
        raise ValidationFailed(
            "Password must not contain your username or email",
            code="password_contains_username",
        )
