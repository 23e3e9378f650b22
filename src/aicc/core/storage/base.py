"""The object-store contract every backend fulfils: local disk (embedded default) and S3."""

from __future__ import annotations

import re
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Mapping,
)
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol, runtime_checkable

_KEY_RE = re.compile(r"^[A-Za-z0-9!_.*'()\-][A-Za-z0-9!_.*'()\-/]{0,1023}$")


class ObjectNotFound(Exception):
    def __init__(self, key: str) -> None:
        super().__init__(f"object not found: {key}")
        self.key = key


class InvalidRange(Exception):
    """A byte range that starts past the end of the object."""


class InvalidKey(ValueError):
    pass


def validate_key(key: str) -> str:
    """Accept S3-safe keys that cannot escape a directory: no ``..`` segment, no leading ``/``."""
    if not _KEY_RE.match(key) or any(part in ("", ".", "..") for part in key.split("/")):
        raise InvalidKey(f"invalid object key: {key!r}")
    return key


def user_metadata(metadata: Mapping[str, str] | None) -> dict[str, str]:
    """User metadata as S3 keeps it: names lower-cased; names and values ASCII only."""
    normalised: dict[str, str] = {}
    for name, value in (metadata or {}).items():
        if not name or not name.isascii() or not value.isascii():
            raise ValueError(f"object metadata must be non-empty ASCII: {name!r}")
        normalised[name.lower()] = value
    return normalised


async def rechunk(data: bytes | AsyncIterable[bytes], size: int) -> AsyncGenerator[bytes, None]:
    """Re-cut ``data`` into blocks of exactly ``size`` bytes (the last may be shorter)."""
    if isinstance(data, bytes):
        for offset in range(0, len(data), size):
            yield data[offset : offset + size]
        return
    buffer = bytearray()
    async for chunk in data:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: datetime
    content_type: str = "application/octet-stream"
    metadata: dict[str, str] = field(default_factory=dict)


class ObjectReader(Protocol):
    """An open object (or byte range of one), read as a stream of chunks."""

    info: ObjectInfo
    start: int
    end: int
    """Inclusive index of the last byte returned (``start - 1`` for an empty object)."""

    def __aiter__(self) -> AsyncIterator[bytes]: ...

    async def read(self) -> bytes:
        """Read everything that is left."""
        ...

    async def aclose(self) -> None: ...


class StreamReader:
    """An ObjectReader over a backend's ``read(n)`` and ``close()``, stopping after ``end``."""

    def __init__(
        self,
        info: ObjectInfo,
        start: int,
        end: int,
        read: Callable[[int], Awaitable[bytes]],
        close: Callable[[], Awaitable[object]],
        chunk_size: int = 1024 * 1024,
    ) -> None:
        self.info = info
        self.start = start
        self.end = end
        self._read: Callable[[int], Awaitable[bytes]] | None = read
        self._close = close
        self._remaining = end - start + 1
        self._chunk_size = chunk_size

    def __aiter__(self) -> StreamReader:
        return self

    async def __anext__(self) -> bytes:
        chunk = b""
        if self._read is not None and self._remaining > 0:
            chunk = await self._read(min(self._chunk_size, self._remaining))
        if not chunk:
            await self.aclose()
            raise StopAsyncIteration
        self._remaining -= len(chunk)
        return chunk

    async def read(self) -> bytes:
        return b"".join([chunk async for chunk in self])

    async def aclose(self) -> None:
        if self._read is not None:
            self._read = None
            await self._close()


@runtime_checkable
class ObjectStore(Protocol):
    backend: str

    async def put(
        self,
        key: str,
        data: bytes | AsyncIterable[bytes],
        *,
        content_type: str = "application/octet-stream",
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        """Store an object; it becomes visible whole or not at all.

        A stream larger than the multipart threshold is sent in parts without being held in
        memory at once.
        """
        ...

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> ObjectReader:
        """Open ``key`` for reading bytes ``start..end`` (inclusive; ``end=None``: to the end).

        Raises ObjectNotFound, or InvalidRange when ``start`` is past the last byte.
        """
        ...

    async def head(self, key: str) -> ObjectInfo:
        """Raises ObjectNotFound."""
        ...

    async def delete(self, key: str) -> None:
        """Idempotent: deleting a missing key is not an error."""
        ...

    def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        """Objects whose key starts with ``prefix``, in key order."""
        ...

    async def ping(self) -> None:
        """Raise if the store cannot be reached or written."""
        ...

    async def close(self) -> None: ...
