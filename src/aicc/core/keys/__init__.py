"""Envelope encryption: a data key per object, wrapped by a rotating key-encryption key.

Use ``resources.data_keys`` (a :class:`DataKeys`): ``await create(ref, conn=conn)`` for a new
object, ``await get(ref)`` to read one, ``await destroy(ref)`` to crypto-shred it. The payload
itself is sealed with the plaintext key, e.g. ``SecretBox(key).seal(data, context=ref.encode())``
from :mod:`aicc.core.crypto`.
"""

from aicc.core.keys.errors import (
    DataKeyCorrupt,
    DataKeyDestroyed,
    DataKeyExists,
    DataKeyNotFound,
    KekUnavailable,
)
from aicc.core.keys.keks import Keyring, KmsKeks, LocalKek, local_kek_id
from aicc.core.keys.models import data_key_table
from aicc.core.keys.store import DataKeys, KeyStatus, RotationReport

__all__ = [
    "DataKeyCorrupt",
    "DataKeyDestroyed",
    "DataKeyExists",
    "DataKeyNotFound",
    "DataKeys",
    "KekUnavailable",
    "KeyStatus",
    "Keyring",
    "KmsKeks",
    "LocalKek",
    "RotationReport",
    "data_key_table",
    "local_kek_id",
]
