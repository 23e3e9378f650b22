from __future__ import annotations

import asyncio
from collections.abc import Iterator

import bcrypt
import pytest

from aicc.auth.passwords import PasswordHasher, VerifyResult, check_password_policy
from aicc.core.errors import ValidationFailed

OWASP_PREFIX = "$argon2id$v=19$m=19456,t=2,p=1$"
CHEAP_PREFIX = "$argon2id$v=19$m=1024,t=1,p=1$"


@pytest.fixture
def hasher() -> Iterator[PasswordHasher]:
    """The production parameters."""
    h = PasswordHasher()
    yield h
    h.close()


@pytest.fixture
def cheap() -> Iterator[PasswordHasher]:
    """Low-cost parameters, for tests where the cost does not matter."""
    h = PasswordHasher(memory_kib=1024, time_cost=1)
    yield h
    h.close()


def bcrypt_hash(password: bytes) -> str:
    return bcrypt.hashpw(password, bcrypt.gensalt(4)).decode()


async def test_hash_uses_owasp_argon2id_parameters(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse battery")
    assert stored.startswith(OWASP_PREFIX)
    assert await hasher.verify(stored, "correct horse battery") == VerifyResult(True, None)


async def test_wrong_password_is_invalid(cheap: PasswordHasher) -> None:
    stored = await cheap.hash("correct horse battery")
    assert await cheap.verify(stored, "correct horse battery!") == VerifyResult(False, None)
    assert not (await cheap.verify(stored, "Correct horse battery")).valid


async def test_same_password_hashes_differently(cheap: PasswordHasher) -> None:
    assert await cheap.hash("correct horse battery") != await cheap.hash("correct horse battery")


@pytest.mark.parametrize("length", [64, 100, 200, 1024])
async def test_long_passphrases_are_compared_exactly(cheap: PasswordHasher, length: int) -> None:
    passphrase = "".join(chr(ord("a") + i % 26) for i in range(length - 1)) + "é"
    stored = await cheap.hash(passphrase)
    assert (await cheap.verify(stored, passphrase)).valid
    assert not (await cheap.verify(stored, passphrase[:-1] + "e")).valid
    assert not (await cheap.verify(stored, passphrase[:-1])).valid


@pytest.mark.parametrize("prefix", ["$2a$", "$2b$", "$2y$"])
async def test_bcrypt_legacy_hash_verifies_and_upgrades(cheap: PasswordHasher, prefix: str) -> None:
    legacy = prefix + bcrypt_hash(b"legacy password")[4:]
    result = await cheap.verify(legacy, "legacy password")
    assert result.valid
    assert result.new_hash is not None and result.new_hash.startswith(CHEAP_PREFIX)
    assert await cheap.verify(result.new_hash, "legacy password") == VerifyResult(True, None)


async def test_bcrypt_wrong_password_is_invalid(cheap: PasswordHasher) -> None:
    legacy = bcrypt_hash(b"legacy password")
    assert await cheap.verify(legacy, "legacy passwore") == VerifyResult(False, None)


async def test_bcrypt_does_not_truncate_beyond_72_bytes(cheap: PasswordHasher) -> None:
    first_72 = "ü" * 36
    assert len(first_72.encode()) == 72
    legacy = bcrypt_hash(first_72.encode())
    assert (await cheap.verify(legacy, first_72)).valid
    assert await cheap.verify(legacy, first_72 + "x") == VerifyResult(False, None)


async def test_argon2_hash_with_other_parameters_is_upgraded(
    hasher: PasswordHasher, cheap: PasswordHasher
) -> None:
    old = await cheap.hash("correct horse battery")
    result = await hasher.verify(old, "correct horse battery")
    assert result.valid
    assert result.new_hash is not None and result.new_hash.startswith(OWASP_PREFIX)
    assert await hasher.verify(result.new_hash, "correct horse battery") == VerifyResult(True, None)
    assert await hasher.verify(old, "wrong horse battery") == VerifyResult(False, None)


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "garbage",
        "correct horse battery",
        "$argon2id$",
        "$argon2id$v=19$m=abc",
        "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHQ$" + "A" * 43,
        "$argon2id$é",
        "$2b$04$garbage",
        "$2b$",
        "$1$salt$md5crypt",
        "pbkdf2_sha256$600000$salt$hash",
    ],
)
async def test_garbage_hash_is_invalid(cheap: PasswordHasher, stored: str) -> None:
    assert await cheap.verify(stored, "correct horse battery") == VerifyResult(False, None)


async def test_unencodable_password_is_invalid(cheap: PasswordHasher) -> None:
    assert not (await cheap.verify(await cheap.hash("abcdefgh"), "\ud800")).valid
    assert not (await cheap.verify(bcrypt_hash(b"abcdefgh"), "\ud800")).valid


async def test_verify_dummy(cheap: PasswordHasher) -> None:
    await asyncio.gather(*(cheap.verify_dummy("whatever") for _ in range(3)))
    await cheap.verify_dummy("")


async def test_verify_runs_off_the_event_loop(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("correct horse battery")
    verification = asyncio.create_task(hasher.verify(stored, "correct horse battery"))
    ticks = 0
    while not verification.done():
        await asyncio.sleep(0)
        ticks += 1
    # Blocking the loop would let this coroutine resume only once the verification is done.
    assert ticks > 1
    assert (await verification).valid


async def test_closed_hasher_refuses_work() -> None:
    h = PasswordHasher(memory_kib=1024, time_cost=1)
    await h.hash("correct horse battery")
    h.close()
    h.close()
    with pytest.raises(RuntimeError, match="closed"):
        await h.hash("correct horse battery")


def test_max_threads_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_threads"):
        PasswordHasher(max_threads=0)


def policy_code(password: str, **kwargs: str | None) -> str | None:
    try:
        check_password_policy(password, **kwargs)
    except ValidationFailed as exc:
        assert exc.status_code == 422
        return exc.error_code
    return None


@pytest.mark.parametrize(
    "password",
    [
        "tangerine-otter",
        "ffffffff" * 8,
        "a correct horse battery staple that is quite a long passphrase " * 3,
        "x" * 1024,
        "éèêëàâäç",
        "🙂🙃😉😊🙂🙃😉😊",
    ],
)
def test_policy_accepts(password: str) -> None:
    assert policy_code(password, username="alice", email="alice@example.com") is None


@pytest.mark.parametrize("password", ["", "abc", "tango12", "🙂🙃😉😊🙂🙃😉"])
def test_policy_too_short_counts_code_points(password: str) -> None:
    assert policy_code(password) == "password_too_short"


def test_policy_too_long() -> None:
    assert policy_code("x" * 1025) == "password_too_long"


@pytest.mark.parametrize(
    "password",
    [
        "password123",
        "qwertyuiop",
        "iloveyou",
        "PassWord123",
        "ILOVEYOU",
        "changeme",
        "ChangeThis",
        "aicc1234",
        "Password1!",
        "Welcome1",
        "connect123",
    ],
)
def test_policy_refuses_common_passwords(password: str) -> None:
    assert policy_code(password) == "password_common"


@pytest.mark.parametrize(
    ("password", "username", "email"),
    [
        ("tangerine-alice", "alice", None),
        ("xALICEx-tangerine", "alice", None),
        ("agent.smith.2024", "Agent.Smith", None),
        ("tangerine-otter", "tangerine-otter", None),
        ("carol.smith-rocks", None, "Carol.Smith@example.com"),
        ("tangerine-dave", "someone", "dave@example.com"),
    ],
)
def test_policy_refuses_username_or_email(
    password: str, username: str | None, email: str | None
) -> None:
    assert policy_code(password, username=username, email=email) == "password_contains_username"


@pytest.mark.parametrize(
    ("username", "email"), [("bob", None), (None, "jo@example.com"), ("", ""), (None, None)]
)
def test_policy_ignores_short_identifiers(username: str | None, email: str | None) -> None:
    assert policy_code("bob-jo-tangerine", username=username, email=email) is None


def test_policy_refuses_unencodable_password() -> None:
    assert policy_code("tangerine\ud800") == "password_invalid"
