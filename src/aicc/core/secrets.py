"""Development secrets generated on first run into the data folder (mode 0600), never committed."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from aicc.core.config import Settings
from aicc.core.errors import ConfigError


def ensure_data_dir(settings: Settings) -> Path:
    path = settings.data_dir
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    (path / "secrets").mkdir(exist_ok=True, mode=0o700)
    return path


def load_or_create_secret(directory: Path, name: str, nbytes: int = 32) -> bytes:
    """Return the secret stored in ``directory/name``, creating it atomically if missing.

    Two processes starting at once agree on one value: the file is created with O_EXCL
    from a fully written temporary file, and the loser reads the winner's.
    """
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / name
    if path.exists():
        return _read(path)
    value = secrets.token_bytes(nbytes)
    tmp = directory / f".{name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, base64.urlsafe_b64encode(value) + b"\n")
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return _read(path)
    finally:
        tmp.unlink()
    return value


def _read(path: Path) -> bytes:
    return base64.urlsafe_b64decode(path.read_bytes().strip())


MASTER_KEY_SALT = b"aicc-master-key-v1"
MASTER_KEY_INFO = b"aicc master key from ENCRYPTION_KEY"


def master_key_from_string(raw: str, *, name: str = "ENCRYPTION_KEY") -> bytes:
    """The 256-bit key a configured string stands for.

    A string that base64-decodes (standard or URL-safe alphabet, padding optional) to exactly
    32 bytes is those bytes, decoded exactly as before passphrases were accepted, so keys
    derived from it (the auth service's sealed signing keys and TOTP secrets) still open. Any
    other string, stripped of surrounding whitespace, is stretched with HKDF-SHA256 (salt
    ``aicc-master-key-v1``, info ``aicc master key from ENCRYPTION_KEY``): that accepts a
    passphrase such as ``your-encryption-key``, but HKDF adds no brute-force cost, so production
    keys should be 32 random bytes.
    """
    if not raw.strip():
        raise ConfigError(
            f"{name} is empty: set it to 32 random bytes, base64-encoded, or unset it to use a "
            "generated development key"
        )
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_", validate=False)
    except ValueError:
        key = b""
    if len(key) == 32:
        return key
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=MASTER_KEY_SALT, info=MASTER_KEY_INFO
    ).derive(raw.strip().encode())


def encryption_key(settings: Settings) -> bytes:
    """The 256-bit master key: ``ENCRYPTION_KEY`` or one generated for this install."""
    if settings.security.encryption_key is not None:
        return master_key_from_string(settings.security.encryption_key.get_secret_value())
    return load_or_create_secret(ensure_data_dir(settings) / "secrets", "encryption.key")


def previous_encryption_keys(settings: Settings) -> list[bytes]:
    """The older master keys of ``AICC_PREVIOUS_ENCRYPTION_KEYS`` (comma-separated)."""
    if settings.security.previous_encryption_keys is None:
        return []
    raw = settings.security.previous_encryption_keys.get_secret_value()
    return [
        master_key_from_string(part.strip(), name="AICC_PREVIOUS_ENCRYPTION_KEYS")
        for part in raw.split(",")
        if part.strip()
    ]
