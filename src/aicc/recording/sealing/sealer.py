"""Sealing a plaintext stream as it arrives."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncGenerator, AsyncIterable

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from aicc.recording.sealing.layout import MAX_SEGMENTS, SEGMENT_SIZE, Header

Buffer = bytes | bytearray | memoryview


class SealingStream:
    """The sealed object for ``chunks``, as an async iterator of bytes: the header, then one
    ciphertext segment at a time, produced as the plaintext arrives.

    Holds at most one plaintext segment and one ciphertext segment. Once iteration finished,
    ``plain_size`` and ``sha256`` (hex digest of the plaintext) are available; before that
    they raise, so a partial upload can never be recorded as complete.
    """

    def __init__(
        self,
        chunks: AsyncIterable[Buffer],
        data_key: bytes,
        object_ref: str,
        *,
        segment_size: int = SEGMENT_SIZE,
    ) -> None:
        self.header = Header.new(object_ref, segment_size)
        self._aead: AESGCM = self.header.segment_cipher(data_key)
        self._hash = hashlib.sha256()
        self._plain_size = 0
        self._sealed_size = 0
        self._segments = 0
        self._finished = False
        self._stream = self._generate(chunks)

    def __aiter__(self) -> SealingStream:
        return self

    async def __anext__(self) -> bytes:
        return await anext(self._stream)

    async def aclose(self) -> None:
        await self._stream.aclose()

    @property
    def object_ref(self) -> str:
        return self.header.object_ref

    @property
    def finished(self) -> bool:
        return self._finished

    @property
    def plain_size(self) -> int:
        self._require_finished()
        return self._plain_size

    @property
    def sha256(self) -> str:
        self._require_finished()
        return self._hash.hexdigest()

    @property
    def sealed_size(self) -> int:
        self._require_finished()
        return self._sealed_size

    def _require_finished(self) -> None:
        if not self._finished:
            raise RuntimeError("sealing has not finished: the stream was not fully consumed")

    async def _generate(self, chunks: AsyncIterable[Buffer]) -> AsyncGenerator[bytes, None]:
        segment_size = self.header.segment_size
        pending = memoryview(bytearray(segment_size))
        filled = 0
        yield self._emit(self.header.raw)
        async for chunk in chunks:
            if not chunk:
                continue
            self._hash.update(chunk)
            self._plain_size += len(chunk)
            with memoryview(chunk) as view:
                position = 0
                if filled:
                    position = min(segment_size - filled, len(view))
                    pending[filled : filled + position] = view[:position]
                    filled += position
                    if position == len(view):
                        continue
                    yield self._seal(pending, last=False)
                    filled = 0
                while len(view) - position > segment_size:
                    yield self._seal(view[position : position + segment_size], last=False)
                    position += segment_size
                filled = len(view) - position
                pending[:filled] = view[position:]
        yield self._seal(pending[:filled], last=True)
        self._finished = True

    def _seal(self, plaintext: Buffer, *, last: bool) -> bytes:
        if self._segments >= MAX_SEGMENTS:
            raise OverflowError("plaintext too large: more than 2**32 segments")
        nonce = self.header.nonce(self._segments, last=last)
        self._segments += 1
        return self._emit(self._aead.encrypt(nonce, plaintext, self.header.raw))

    def _emit(self, data: bytes) -> bytes:
        self._sealed_size += len(data)
        return data


def seal(
    chunks: AsyncIterable[Buffer],
    data_key: bytes,
    object_ref: str,
    *,
    segment_size: int = SEGMENT_SIZE,
) -> SealingStream:
    """Seal ``chunks`` (any sizes, empty ones included) for ``object_ref`` under ``data_key``.

    Pass the result straight to ``ObjectStore.put``; afterwards read its ``plain_size`` and
    ``sha256``.
    """
    return SealingStream(chunks, data_key, object_ref, segment_size=segment_size)
