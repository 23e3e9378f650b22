"""Development secrets generated on first run into the data folder (mode 0600), never committed."""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path

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


def encryption_key(settings: Settings) -> bytes:
    """The 256-bit master key: ``ENCRYPTION_KEY`` (base64) or one generated for this install."""
    if settings.security.encryption_key is not None:
        raw = settings.security.encryption_key.get_secret_value()
        try:
            key = base64.b64decode(raw + "=" * (-len(raw) % 4), altchars=b"-_", validate=False)
        except ValueError:
            key = b""
        if len(key) != 32:
            raise ConfigError("ENCRYPTION_KEY must be 32 bytes, base64-encoded")
        return key
    return load_or_create_secret(ensure_data_dir(settings) / "secrets", "encryption.key")
