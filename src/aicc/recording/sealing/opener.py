"""Opening a sealed object: verified segments and plaintext byte ranges, read on demand."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from contextlib import aclosing

from cryptography.exceptions import InvalidTag

from aicc.core.storage import InvalidRange, ObjectStore
from aicc.recording.sealing.layout import (
    DATA_KEY_SIZE,
    TAG_SIZE,
    CorruptionReason,
    Header,
    SealedObjectCorrupt,
    header_length,
    segment_count,
)

READ_SIZE = 4 * 1024 * 1024
"""Ciphertext fetched per ranged ``get`` (at least one segment): the memory bound of a read."""


def resolve_range(plain_size: int, start: int = 0, end: int | None = None) -> tuple[int, int]:
    """The inclusive plaintext range ``start..end`` clipped to the object, as HTTP clips it
    (``end`` None or past the last byte means "to the end"); ``(0, -1)`` for an empty object
    read from 0. Raises InvalidRange when nothing of the object is selected."""
    if start < 0 or (end is not None and end < start):
        raise InvalidRange(f"invalid range {start}-{end}")
    last = plain_size - 1 if end is None else min(end, plain_size - 1)
    if start > last and not (start == 0 and plain_size == 0):
        raise InvalidRange(f"range start {start} is past the end ({plain_size} bytes)")
    return start, last


class SealedObject:
    """A stored sealed object whose header and size have been checked; its segments are
    fetched, authenticated and decrypted only when asked for."""

    def __init__(
        self,
        store: ObjectStore,
        key: str,
        header: Header,
        data_key: bytes,
        plain_size: int,
        *,
        read_size: int = READ_SIZE,
    ) -> None:
        self.store = store
        self.key = key
        self.header = header
        self.plain_size = plain_size
        self.segment_count = segment_count(plain_size, header.segment_size)
        self.sealed_size = header.length + plain_size + self.segment_count * TAG_SIZE
        self.segments_per_read = max(1, read_size // (header.segment_size + TAG_SIZE))
        self._aead = header.segment_cipher(data_key)

    @classmethod
    async def open(
        cls,
        store: ObjectStore,
        key: str,
        *,
        data_key: bytes,
        object_ref: str,
        plain_size: int,
        read_size: int = READ_SIZE,
    ) -> SealedObject:
        """Read and check the header (magic, version, object reference) and the stored size
        against ``plain_size``. Raises SealedObjectCorrupt, or ObjectNotFound."""
        if plain_size < 0:
            raise ValueError("plaintext size cannot be negative")
        if len(data_key) != DATA_KEY_SIZE:
            raise ValueError(f"data key must be {DATA_KEY_SIZE} bytes")
        stored = bytearray(header_length(object_ref))
        filled, size = await _read_into(store, key, 0, memoryview(stored))
        header = Header.parse(stored[:filled], object_ref, key=key)
        try:
            sealed = cls(store, key, header, data_key, plain_size, read_size=read_size)
        except ValueError as exc:
            raise SealedObjectCorrupt("bad_header", key, str(exc)) from None
        sealed.check_size(size)
        return sealed

    @property
    def segment_size(self) -> int:
        return self.header.segment_size

    @property
    def object_ref(self) -> str:
        return self.header.object_ref

    def check_size(self, stored_size: int) -> None:
        if stored_size != self.sealed_size:
            reason: CorruptionReason = "truncated" if stored_size < self.sealed_size else "extended"
            raise SealedObjectCorrupt(
                reason,
                self.key,
                f"{stored_size} bytes stored, {self.sealed_size} expected "
                f"for {self.plain_size} plaintext bytes",
            )

    async def iter_range(
        self, start: int = 0, end: int | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Plaintext bytes ``start..end`` (inclusive, clipped like an HTTP range), one piece
        per segment, each verified before it is yielded.

        Raises InvalidRange before reading anything, SealedObjectCorrupt possibly after
        some pieces were yielded.
        """
        first_byte, last_byte = resolve_range(self.plain_size, start, end)
        if last_byte < first_byte:
            await self.read_segments(0, 0)
            return
        size = self.segment_size
        first, last = first_byte // size, last_byte // size
        async with aclosing(self.iter_segments(first, last)) as segments:
            async for index, plaintext in segments:
                low = first_byte - index * size if index == first else 0
                high = last_byte - index * size + 1 if index == last else len(plaintext)
                yield plaintext if low == 0 and high == len(plaintext) else plaintext[low:high]

    async def read_segments(self, first: int, last: int) -> list[bytes]:
        """The plaintext of segments ``first..last``, verified."""
        async with aclosing(self.iter_segments(first, last)) as segments:
            return [plaintext async for _, plaintext in segments]

    async def iter_segments(self, first: int, last: int) -> AsyncGenerator[tuple[int, bytes], None]:
        """``(index, plaintext)`` of segments ``first..last``, fetched ``segments_per_read`` at
        a time into one reused buffer."""
        if not 0 <= first <= last < self.segment_count:
            raise IndexError(f"segments {first}..{last} of {self.segment_count}")
        stride = self.segment_size + TAG_SIZE
        buffer = memoryview(bytearray(min(self.segments_per_read, last - first + 1) * stride))
        for batch_first in range(first, last + 1, self.segments_per_read):
            batch_last = min(batch_first + self.segments_per_read - 1, last)
            offset = self.header.cipher_offset(batch_first)
            span = self._cipher_end(batch_last) - offset
            await self._fill(buffer[:span], offset)
            position = 0
            for index in range(batch_first, batch_last + 1):
                length = self._cipher_end(index) - self.header.cipher_offset(index)
                yield index, self._decrypt(index, buffer[position : position + length])
                position += length

    def _cipher_end(self, index: int) -> int:
        if index < self.segment_count - 1:
            return self.header.cipher_offset(index + 1)
        return self.sealed_size

    async def _fill(self, target: memoryview, offset: int) -> None:
        try:
            filled, size = await _read_into(self.store, self.key, offset, target)
        except InvalidRange:
            raise SealedObjectCorrupt(
                "truncated", self.key, f"nothing stored at offset {offset}"
            ) from None
        self.check_size(size)
        if filled != len(target):
            raise SealedObjectCorrupt(
                "truncated", self.key, f"{filled} of {len(target)} bytes read at {offset}"
            )

    def _decrypt(self, index: int, ciphertext: memoryview) -> bytes:
        nonce = self.header.nonce(index, last=index == self.segment_count - 1)
        try:
            return self._aead.decrypt(nonce, ciphertext, self.header.raw)
        except InvalidTag:
            raise SealedObjectCorrupt(
                "tampered", self.key, f"segment {index} failed authentication"
            ) from None


async def _read_into(
    store: ObjectStore, key: str, offset: int, target: memoryview
) -> tuple[int, int]:
    """Fill ``target`` from ``offset`` of ``key``; return the bytes read and the object size."""
    reader = await store.get(key, start=offset, end=offset + len(target) - 1)
    filled = 0
    try:
        async for chunk in reader:
            take = min(len(chunk), len(target) - filled)
            target[filled : filled + take] = chunk[:take] if take < len(chunk) else chunk
            filled += take
            if filled == len(target):
                break
    finally:
        await reader.aclose()
    return filled, reader.info.size


async def open_range(
    store: ObjectStore,
    key: str,
    *,
    data_key: bytes,
    object_ref: str,
    plain_size: int,
    start: int = 0,
    end: int | None = None,
) -> AsyncGenerator[bytes, None]:
    """Plaintext bytes ``start..end`` of the sealed object at ``key``, verified segment by
    segment, reading only the segments the range touches.

    Raises InvalidRange (before any read), ObjectNotFound, or SealedObjectCorrupt (possibly
    after some bytes were yielded: abort the response then).
    """
    resolve_range(plain_size, start, end)
    sealed = await SealedObject.open(
        store, key, data_key=data_key, object_ref=object_ref, plain_size=plain_size
    )
    async with aclosing(sealed.iter_range(start, end)) as pieces:
        async for piece in pieces:
            yield piece
