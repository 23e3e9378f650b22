"""The sealed-object layout: header, segment geometry, segment keys and nonces."""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"AICCREC"
VERSION = 1
SEGMENT_SIZE = 64 * 1024
MAX_SEGMENT_SIZE = 1024 * 1024
TAG_SIZE = 16
SALT_SIZE = 16
NONCE_PREFIX_SIZE = 7
MAX_OBJECT_REF_BYTES = 1024
MAX_SEGMENTS = 2**32
SEGMENT_KEY_INFO = b"aicc-recording-segments"
DATA_KEY_SIZE = 32

_FIXED = struct.Struct(f">{len(MAGIC)}sBI{SALT_SIZE}s{NONCE_PREFIX_SIZE}sH")
_NONCE = struct.Struct(f">{NONCE_PREFIX_SIZE}sIB")
FIXED_HEADER_SIZE = _FIXED.size

CorruptionReason = Literal["bad_header", "wrong_object", "truncated", "extended", "tampered"]


class SealedObjectCorrupt(Exception):
    """A stored object that is not what was sealed for this reference and size.

    ``reason``: ``bad_header`` (not a sealed object, or an unknown version or segment size),
    ``wrong_object`` (sealed for another object reference: a swapped object),
    ``truncated`` / ``extended`` (shorter or longer than the expected plaintext size implies),
    ``tampered`` (a segment failed authentication: modified, reordered or a wrong key).
    """

    def __init__(self, reason: CorruptionReason, key: str, detail: str) -> None:
        super().__init__(f"sealed object {key!r} is corrupt ({reason}): {detail}")
        self.reason: CorruptionReason = reason
        self.key = key


def encode_object_ref(object_ref: str) -> bytes:
    encoded = object_ref.encode()
    if not encoded or len(encoded) > MAX_OBJECT_REF_BYTES:
        raise ValueError(f"object reference must be 1 to {MAX_OBJECT_REF_BYTES} bytes of UTF-8")
    return encoded


def check_segment_size(segment_size: int) -> int:
    if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
        raise ValueError(f"segment size must be 1 to {MAX_SEGMENT_SIZE} bytes")
    return segment_size


def header_length(object_ref: str) -> int:
    return FIXED_HEADER_SIZE + len(encode_object_ref(object_ref))


def segment_count(plain_size: int, segment_size: int = SEGMENT_SIZE) -> int:
    """Segments a plaintext of ``plain_size`` bytes is cut into (an empty one is one segment)."""
    if plain_size < 0:
        raise ValueError("plaintext size cannot be negative")
    count = max(1, -(-plain_size // segment_size))
    if count > MAX_SEGMENTS:
        raise ValueError(f"plaintext of {plain_size} bytes needs more than 2**32 segments")
    return count


def sealed_size(plain_size: int, object_ref: str, segment_size: int = SEGMENT_SIZE) -> int:
    """Size of the stored object sealing ``plain_size`` plaintext bytes for ``object_ref``."""
    count = segment_count(plain_size, check_segment_size(segment_size))
    return header_length(object_ref) + plain_size + count * TAG_SIZE


@dataclass(frozen=True, slots=True)
class Header:
    segment_size: int
    salt: bytes
    nonce_prefix: bytes
    object_ref: str
    raw: bytes
    """The header exactly as stored: the associated data of every segment."""

    @classmethod
    def new(cls, object_ref: str, segment_size: int = SEGMENT_SIZE) -> Header:
        ref = encode_object_ref(object_ref)
        salt, prefix = os.urandom(SALT_SIZE), os.urandom(NONCE_PREFIX_SIZE)
        fixed = _FIXED.pack(
            MAGIC, VERSION, check_segment_size(segment_size), salt, prefix, len(ref)
        )
        return cls(segment_size, salt, prefix, object_ref, fixed + ref)

    @classmethod
    def parse(cls, stored: bytes | bytearray, object_ref: str, *, key: str) -> Header:
        """Check the first ``header_length(object_ref)`` bytes of a stored object (fewer when
        the object is shorter) against the expected object reference.

        The header is authenticated only by the segments that use it as associated data.
        """
        expected_ref = encode_object_ref(object_ref)
        if len(stored) < FIXED_HEADER_SIZE:
            intact_prefix = (MAGIC + bytes([VERSION])).startswith(stored[: len(MAGIC) + 1])
            reason: CorruptionReason = "truncated" if intact_prefix else "bad_header"
            raise SealedObjectCorrupt(reason, key, f"only {len(stored)} bytes of header")
        magic, version, segment_size, salt, prefix, ref_length = _FIXED.unpack_from(stored)
        if magic != MAGIC:
            raise SealedObjectCorrupt("bad_header", key, "not a sealed recording object")
        if version != VERSION:
            raise SealedObjectCorrupt("bad_header", key, f"unsupported format version {version}")
        if not 1 <= segment_size <= MAX_SEGMENT_SIZE:
            raise SealedObjectCorrupt("bad_header", key, f"invalid segment size {segment_size}")
        end = FIXED_HEADER_SIZE + ref_length
        stored_ref = stored[FIXED_HEADER_SIZE:end]
        if ref_length != len(expected_ref) or not expected_ref.startswith(stored_ref):
            raise SealedObjectCorrupt(
                "wrong_object", key, f"sealed for another object, not {object_ref!r}"
            )
        if len(stored_ref) < ref_length:
            raise SealedObjectCorrupt("truncated", key, "header cut short")
        return cls(segment_size, salt, prefix, object_ref, bytes(stored[:end]))

    @property
    def length(self) -> int:
        return len(self.raw)

    def segment_cipher(self, data_key: bytes) -> AESGCM:
        if len(data_key) != DATA_KEY_SIZE:
            raise ValueError(f"data key must be {DATA_KEY_SIZE} bytes")
        hkdf = HKDF(hashes.SHA256(), length=32, salt=self.salt, info=SEGMENT_KEY_INFO)
        return AESGCM(hkdf.derive(data_key))

    def nonce(self, index: int, *, last: bool) -> bytes:
        return _NONCE.pack(self.nonce_prefix, index, last)

    def cipher_offset(self, index: int) -> int:
        """Where segment ``index`` starts in the stored object."""
        return self.length + index * (self.segment_size + TAG_SIZE)
