"""Per-object data keys in ``core_data_key``: create, read, destroy, rotate, count."""

from __future__ import annotations

import time
from collections import Counter, OrderedDict
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NamedTuple

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.errors import ConfigError
from aicc.core.keys.errors import (
    DataKeyCorrupt,
    DataKeyDestroyed,
    DataKeyExists,
    DataKeyNotFound,
    KekUnavailable,
)
from aicc.core.keys.keks import Keyring, KmsKeks, LocalKek
from aicc.core.keys.models import data_key_table as table
from aicc.core.secrets import encryption_key, previous_encryption_keys

if TYPE_CHECKING:
    from aicc.core.aws import AwsClients
    from aicc.core.config import Settings
    from aicc.core.db import Database

MAX_OBJECT_REF = 1024


@dataclass
class RotationReport:
    """What a rotation did so far: data keys re-wrapped under ``writing_kek_id``, and those it
    could not open, counted per KEK id (they stay as they were)."""

    writing_kek_id: str
    rewrapped: int = 0
    unreadable: dict[str, int] = field(default_factory=dict)
    batches: int = 0


@dataclass(frozen=True)
class KeyStatus:
    writing_kek_id: str
    data_keys: dict[str, int]
    """Live data keys per KEK id."""
    destroyed: int


class _Stored(NamedTuple):
    id: int
    object_ref: str
    kek_id: str
    wrapped_key: bytes


class _UnwrappedKeys:
    """A few recently unwrapped keys, so a hot object does not call KMS on every read.

    An entry is used only while the stored wrapped key is still the one it came from, so a
    destroyed or re-wrapped key is never answered from here.
    """

    def __init__(self, size: int, ttl: float) -> None:
        self._size, self._ttl = size, ttl
        self._entries: OrderedDict[str, tuple[bytes, bytes, float]] = OrderedDict()

    def get(self, object_ref: str, wrapped_key: bytes) -> bytes | None:
        entry = self._entries.get(object_ref)
        if entry is None:
            return None
        wrapped, data_key, expires = entry
        if wrapped != wrapped_key or expires < time.monotonic():
            del self._entries[object_ref]
            return None
        self._entries.move_to_end(object_ref)
        return data_key

    def put(self, object_ref: str, wrapped_key: bytes, data_key: bytes) -> None:
        if self._size == 0 or self._ttl <= 0:
            return
        self._entries[object_ref] = (wrapped_key, data_key, time.monotonic() + self._ttl)
        self._entries.move_to_end(object_ref)
        while len(self._entries) > self._size:
            self._entries.popitem(last=False)

    def forget(self, object_ref: str) -> None:
        self._entries.pop(object_ref, None)


class DataKeys:
    """Envelope encryption: one AES-256 data key per object, wrapped by a key-encryption key.

    ``object_ref`` names the object the key encrypts (``"recording:<id>"``,
    ``"integration-credential:<id>"``); the wrapped key opens only under that name.
    """

    def __init__(
        self,
        database: Database,
        keyring: Keyring,
        *,
        cache_size: int = 1024,
        cache_ttl: float = 60.0,
    ) -> None:
        self._database = database
        self._keyring = keyring
        self._cache = _UnwrappedKeys(cache_size, cache_ttl)

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        database: Database,
        aws: AwsClients,
        *,
        cache_size: int = 1024,
        cache_ttl: float = 60.0,
    ) -> DataKeys:
        """``ENCRYPTION_KEY`` (or the generated development key) and the older master keys of
        ``AICC_PREVIOUS_ENCRYPTION_KEYS`` read; ``AICC_KMS_KEY_ID``, when set, writes instead of
        the current master key."""
        if settings.server.env == "production" and settings.security.encryption_key is None:
            raise ConfigError(
                "ENCRYPTION_KEY is not set: production refuses a generated development key"
            )
        masters = [encryption_key(settings), *previous_encryption_keys(settings)]
        kms = KmsKeks(aws, settings.security.kms_key_id)
        keyring = Keyring([LocalKek(m) for m in masters], kms)
        return cls(database, keyring, cache_size=cache_size, cache_ttl=cache_ttl)

    async def writing_kek_id(self) -> str:
        return await self._keyring.writer_id()

    async def create(self, object_ref: str, *, conn: AsyncConnection | None = None) -> bytes:
        """A new data key for ``object_ref``, stored wrapped in ``conn``'s transaction (so it
        disappears if that rolls back); returns the plaintext key to encrypt the payload with.

        Raises DataKeyExists if the object has (or had) one.
        """
        _check_ref(object_ref)
        async with self._transaction(conn) as tx:
            exists = await tx.scalar(select(table.c.id).where(table.c.object_ref == object_ref))
            if exists is not None:
                raise DataKeyExists(object_ref)
            data_key, wrapped = await self._keyring.generate(object_ref)
            try:
                await tx.execute(
                    table.insert().values(
                        object_ref=object_ref,
                        kek_id=wrapped.kek_id,
                        wrapped_key=wrapped.wrapped_key,
                        created_at=datetime.now(UTC),
                    )
                )
            except IntegrityError:
                raise DataKeyExists(object_ref) from None
        return data_key

    async def get(self, object_ref: str, *, conn: AsyncConnection | None = None) -> bytes:
        """The plaintext data key of ``object_ref``.

        Raises DataKeyNotFound, DataKeyDestroyed, DataKeyCorrupt (the wrapped key was altered
        or copied from another object) or KekUnavailable (its KEK is not configured).
        """
        async with self._connection(conn) as tx:
            row = (
                await tx.execute(
                    select(table.c.kek_id, table.c.wrapped_key).where(
                        table.c.object_ref == object_ref
                    )
                )
            ).first()
        if row is None:
            raise DataKeyNotFound(object_ref)
        if row.wrapped_key is None:
            self._cache.forget(object_ref)
            raise DataKeyDestroyed(object_ref)
        cached = self._cache.get(object_ref, row.wrapped_key)
        if cached is not None:
            return cached
        data_key = await self._keyring.unwrap(row.kek_id, row.wrapped_key, object_ref)
        self._cache.put(object_ref, row.wrapped_key, data_key)
        return data_key

    async def destroy(self, object_ref: str, *, conn: AsyncConnection | None = None) -> bool:
        """Crypto-shred: erase the wrapped key, so the payload can never be decrypted again.

        True if this call destroyed it, False if it was already destroyed; raises
        DataKeyNotFound if the object never had one. Database backups keep the wrapped key
        until they expire.
        """
        self._cache.forget(object_ref)
        async with self._transaction(conn) as tx:
            destroyed = await tx.execute(
                update(table)
                .where(table.c.object_ref == object_ref, table.c.wrapped_key.is_not(None))
                .values(wrapped_key=None, destroyed_at=datetime.now(UTC))
            )
            if destroyed.rowcount == 1:
                return True
            known = await tx.scalar(select(table.c.id).where(table.c.object_ref == object_ref))
        if known is None:
            raise DataKeyNotFound(object_ref)
        return False

    async def rotate(
        self,
        *,
        batch_size: int = 100,
        on_batch: Callable[[RotationReport], object] | None = None,
    ) -> RotationReport:
        """Re-wrap every live data key not under the writing KEK; payloads are not touched.

        Each batch is its own transaction, committed before ``on_batch`` is called: a crash
        loses at most the batch in flight, and running it again carries on where it stopped.
        Keys whose KEK is unavailable are counted in ``unreadable`` and left as they were.
        Rotations may run concurrently (PostgreSQL rows are claimed with SKIP LOCKED).
        """
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        writer = await self._keyring.writer_id()
        report = RotationReport(writer)
        unreadable: Counter[str] = Counter()
        after = 0
        while True:
            async with self._database.transaction() as tx:
                rows = await self._claim(tx, writer, after, batch_size)
                if not rows:
                    break
                rewrapped = await self._rewrap(tx, rows, unreadable)
                after = rows[-1].id
            report.rewrapped += rewrapped
            report.unreadable = dict(unreadable)
            report.batches += 1
            if on_batch is not None:
                on_batch(report)
        return report

    async def _claim(
        self, tx: AsyncConnection, writer: str, after: int, limit: int
    ) -> list[_Stored]:
        """The next live data keys after id ``after`` not under ``writer``."""
        query = (
            select(table.c.id, table.c.object_ref, table.c.kek_id, table.c.wrapped_key)
            .where(table.c.id > after, table.c.kek_id != writer, table.c.wrapped_key.is_not(None))
            .order_by(table.c.id)
            .limit(limit)
        )
        if self._database.dialect == "postgresql":
            query = query.with_for_update(skip_locked=True)
        return [_Stored(*row) for row in await tx.execute(query)]

    async def _rewrap(
        self, tx: AsyncConnection, rows: Sequence[_Stored], unreadable: Counter[str]
    ) -> int:
        """Re-wrap ``rows`` under the writing KEK; the KEK calls come first, so SQLite's write
        lock is held only for the updates. A row destroyed meanwhile stays destroyed."""
        rewraps = []
        for row in rows:
            try:
                data_key = await self._keyring.unwrap(row.kek_id, row.wrapped_key, row.object_ref)
            except (KekUnavailable, DataKeyCorrupt):
                unreadable[row.kek_id] += 1
                continue
            rewraps.append((row, await self._keyring.wrap(data_key, row.object_ref)))
        rewrapped = 0
        for row, wrapped in rewraps:
            changed = await tx.execute(
                update(table)
                .where(
                    table.c.id == row.id,
                    table.c.kek_id == row.kek_id,
                    table.c.wrapped_key == row.wrapped_key,
                )
                .values(
                    kek_id=wrapped.kek_id,
                    wrapped_key=wrapped.wrapped_key,
                    rotated_at=datetime.now(UTC),
                )
            )
            rewrapped += changed.rowcount
        return rewrapped

    async def status(self) -> KeyStatus:
        async with self._database.connect() as conn:
            counts = (
                await conn.execute(
                    select(table.c.kek_id, func.count())
                    .where(table.c.wrapped_key.is_not(None))
                    .group_by(table.c.kek_id)
                    .order_by(table.c.kek_id)
                )
            ).all()
            destroyed = await conn.scalar(
                select(func.count()).select_from(table).where(table.c.wrapped_key.is_(None))
            )
        return KeyStatus(
            writing_kek_id=await self._keyring.writer_id(),
            data_keys={str(kek_id): int(count) for kek_id, count in counts},
            destroyed=destroyed or 0,
        )

    @asynccontextmanager
    async def _transaction(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        if conn is not None:
            yield conn
            return
        async with self._database.transaction() as tx:
            yield tx

    @asynccontextmanager
    async def _connection(self, conn: AsyncConnection | None) -> AsyncIterator[AsyncConnection]:
        if conn is not None:
            yield conn
            return
        async with self._database.connect() as own:
            yield own


def _check_ref(object_ref: str) -> None:
    if not object_ref or len(object_ref) > MAX_OBJECT_REF:
        raise ValueError(f"object_ref must be 1 to {MAX_OBJECT_REF} characters")
