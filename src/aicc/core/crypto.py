"""Authenticated encryption of small secrets at rest (AES-256-GCM under keys derived from the
master key), so a database dump alone reveals no signing key or TOTP secret."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

_VERSION = b"\x01"


def derive_key(master_key: bytes, purpose: str) -> bytes:
    """A 256-bit key for one purpose, so one leaked derived key exposes nothing else."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode()).derive(
        master_key
    )


class SecretBox:
    def __init__(self, key: bytes) -> None:
        if len(key) != 32:
            raise ValueError("SecretBox needs a 32-byte key")
        self._aead = AESGCM(key)

    def seal(self, plaintext: bytes, *, context: bytes = b"") -> bytes:
        """Encrypt; ``context`` (e.g. a row id) is authenticated, so a value copied to
        another row does not decrypt."""
        nonce = os.urandom(12)
        return _VERSION + nonce + self._aead.encrypt(nonce, plaintext, context)

    def open(self, sealed: bytes, *, context: bytes = b"") -> bytes:
        if sealed[:1] != _VERSION:
            raise ValueError("unknown sealed-secret version")
        return self._aead.decrypt(sealed[1:13], sealed[13:], context)
