"""Key-encryption keys (KEKs): the local master keys and AWS KMS keys that wrap data keys.

A wrapped data key is bound to its object: the local wrap is AES-256-GCM with the object
reference as associated data, KMS uses the encryption context ``{"aicc:object": ref}``. A
wrapped key copied into another object's row therefore does not open.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError, HTTPClientError, NoCredentialsError
from botocore.exceptions import ConnectionError as BotoConnectionError
from cryptography.exceptions import InvalidTag

from aicc.core.crypto import SecretBox, derive_key
from aicc.core.errors import ServiceUnavailable
from aicc.core.keys.errors import DataKeyCorrupt, KekUnavailable

if TYPE_CHECKING:
    from types_aiobotocore_kms import KMSClient

    from aicc.core.aws import AwsClients

DATA_KEY_BYTES = 32
LOCAL_PREFIX = "local:"
CONTEXT_NAME = "aicc:object"
_KEK_ID_MESSAGE = b"aicc key-encryption key id v1"
_WRAPPING_PURPOSE = "aicc-data-key-wrapping"
_GONE_CODES = frozenset(
    {
        "NotFoundException",
        "DisabledException",
        "KMSInvalidStateException",
        "KeyUnavailableException",
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidKeyUsageException",
    }
)
_MISMATCH_CODES = frozenset({"InvalidCiphertextException", "IncorrectKeyException"})
_WRITER_FIX = "check AICC_KMS_KEY_ID and this process's permission to use that key"
_READER_FIX = "restore the KMS key, or this process's permission to use it"


@dataclass(frozen=True, slots=True)
class Wrapped:
    kek_id: str
    wrapped_key: bytes


def local_kek_id(master_key: bytes) -> str:
    """A stable name for a master key that reveals nothing about it (a truncated HMAC)."""
    tag = hmac.new(master_key, _KEK_ID_MESSAGE, hashlib.sha256).hexdigest()[:16]
    return LOCAL_PREFIX + tag


class LocalKek:
    """A master key (``ENCRYPTION_KEY`` or an older one) wrapping data keys with AES-256-GCM."""

    def __init__(self, master_key: bytes) -> None:
        self.kek_id = local_kek_id(master_key)
        self._box = SecretBox(derive_key(master_key, _WRAPPING_PURPOSE))

    def wrap(self, data_key: bytes, object_ref: str) -> Wrapped:
        return Wrapped(self.kek_id, self._box.seal(data_key, context=object_ref.encode()))

    def unwrap(self, wrapped_key: bytes, object_ref: str) -> bytes:
        try:
            return self._box.open(wrapped_key, context=object_ref.encode())
        except (InvalidTag, ValueError):
            raise DataKeyCorrupt(object_ref, self.kek_id) from None


def _region_of(key_id: str) -> str | None:
    """The region named in a key or alias ARN (``arn:aws:kms:REGION:...``), if any."""
    parts = key_id.split(":")
    if len(parts) > 5 and parts[0] == "arn" and parts[3]:
        return parts[3]
    return None


def is_kms_arn(kek_id: str) -> bool:
    parts = kek_id.split(":")
    return len(parts) > 5 and parts[0] == "arn" and parts[2] == "kms"


class KmsKeks:
    """Data keys wrapped by AWS KMS. ``key_id`` (id, ARN or alias) wraps new keys; every KMS
    key that wrapped a stored data key stays readable while it exists and may be used."""

    def __init__(self, aws: AwsClients, key_id: str | None) -> None:
        self._aws = aws
        self.key_id = key_id

    async def _client(self, key_id: str) -> KMSClient:
        return await self._aws.client("kms", region=_region_of(key_id))

    def _writer(self) -> str:
        if self.key_id is None:
            raise KekUnavailable("kms", "set AICC_KMS_KEY_ID to write data keys with AWS KMS")
        return self.key_id

    async def writer_arn(self) -> str:
        """The ARN of the configured key, asked of KMS each time (an alias may be re-pointed)."""
        key_id = self._writer()
        with _kms_errors(key_id, _WRITER_FIX):
            described = await (await self._client(key_id)).describe_key(KeyId=key_id)
        return described["KeyMetadata"]["Arn"]

    async def generate(self, object_ref: str) -> tuple[bytes, Wrapped]:
        key_id = self._writer()
        with _kms_errors(key_id, _WRITER_FIX):
            made = await (await self._client(key_id)).generate_data_key(
                KeyId=key_id, KeySpec="AES_256", EncryptionContext={CONTEXT_NAME: object_ref}
            )
        return made["Plaintext"], Wrapped(made["KeyId"], made["CiphertextBlob"])

    async def wrap(self, data_key: bytes, object_ref: str) -> Wrapped:
        key_id = self._writer()
        with _kms_errors(key_id, _WRITER_FIX):
            done = await (await self._client(key_id)).encrypt(
                KeyId=key_id, Plaintext=data_key, EncryptionContext={CONTEXT_NAME: object_ref}
            )
        return Wrapped(done["KeyId"], done["CiphertextBlob"])

    async def unwrap(self, kek_id: str, wrapped_key: bytes, object_ref: str) -> bytes:
        with _kms_errors(kek_id, _READER_FIX, object_ref):
            opened = await (await self._client(kek_id)).decrypt(
                KeyId=kek_id,
                CiphertextBlob=wrapped_key,
                EncryptionContext={CONTEXT_NAME: object_ref},
            )
        return opened["Plaintext"]


@contextmanager
def _kms_errors(kek_id: str, fix: str, object_ref: str | None = None) -> Iterator[None]:
    """Turn KMS failures into errors that name the key (never the key material)."""
    try:
        yield
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _MISMATCH_CODES and object_ref is not None:
            raise DataKeyCorrupt(object_ref, kek_id) from None
        if code in _GONE_CODES:
            raise KekUnavailable(kek_id, f"AWS KMS says {code}; {fix}") from None
        raise
    except NoCredentialsError:
        raise KekUnavailable(kek_id, "no AWS credentials were found") from None
    except (BotoConnectionError, HTTPClientError) as exc:
        raise ServiceUnavailable("AWS KMS cannot be reached; retry shortly") from exc


class Keyring:
    """The KEKs of this process: one writes new data keys, every configured one reads.

    ``local[0]`` is the current master key; the others are older keys kept for reading. With
    ``kms.key_id`` set, KMS writes; otherwise the current master key does.
    """

    def __init__(self, local: Sequence[LocalKek], kms: KmsKeks) -> None:
        if not local:
            raise ValueError("a keyring needs the current master key")
        self._local = {kek.kek_id: kek for kek in local}
        self._current = local[0]
        self._kms = kms

    @property
    def uses_kms(self) -> bool:
        return self._kms.key_id is not None

    async def writer_id(self) -> str:
        return await self._kms.writer_arn() if self.uses_kms else self._current.kek_id

    async def generate(self, object_ref: str) -> tuple[bytes, Wrapped]:
        """A fresh data key and its wrapped form under the writing KEK."""
        if self.uses_kms:
            return await self._kms.generate(object_ref)
        data_key = secrets.token_bytes(DATA_KEY_BYTES)
        return data_key, self._current.wrap(data_key, object_ref)

    async def wrap(self, data_key: bytes, object_ref: str) -> Wrapped:
        if self.uses_kms:
            return await self._kms.wrap(data_key, object_ref)
        return self._current.wrap(data_key, object_ref)

    async def unwrap(self, kek_id: str, wrapped_key: bytes, object_ref: str) -> bytes:
        if kek_id.startswith(LOCAL_PREFIX):
            kek = self._local.get(kek_id)
            if kek is None:
                raise KekUnavailable(
                    kek_id,
                    "set the master key it names as ENCRYPTION_KEY or list it in "
                    "AICC_PREVIOUS_ENCRYPTION_KEYS",
                )
            return kek.unwrap(wrapped_key, object_ref)
        if is_kms_arn(kek_id):
            return await self._kms.unwrap(kek_id, wrapped_key, object_ref)
        raise KekUnavailable(kek_id, "this release does not know this kind of key")
