"""A synchronous, seekable, read-only file over a sealed object, for decoders (PyAV) that run
in a worker thread and fetch through the event loop."""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from types import TracebackType

from anyio import from_thread
from anyio.lowlevel import current_token

from aicc.core.storage import ObjectStore
from aicc.recording.sealing.opener import SealedObject

CACHE_SEGMENTS = 32
READAHEAD_SEGMENTS = 16


class SealedFile:
    """Plaintext of a sealed object as a read-only binary file.

    Create it in the event loop's thread (it remembers that loop); call ``read``/``seek``
    from any other thread, typically one started with ``anyio.to_thread.run_sync``: each
    missing segment is fetched by running a coroutine on the loop, together with up to
    ``readahead_segments - 1`` following ones, and the last ``cache_segments`` decrypted
    segments are kept. Corruption raises SealedObjectCorrupt from ``read``. Like any file
    object, one instance is not for concurrent use by several threads.
    """

    def __init__(
        self,
        sealed: SealedObject,
        *,
        cache_segments: int = CACHE_SEGMENTS,
        readahead_segments: int = READAHEAD_SEGMENTS,
    ) -> None:
        if not 1 <= readahead_segments <= cache_segments:
            raise ValueError("need 1 <= readahead_segments <= cache_segments")
        self._sealed = sealed
        self._token = current_token()
        self._loop_thread = threading.get_ident()
        self._cache: OrderedDict[int, bytes] = OrderedDict()
        self._cache_segments = cache_segments
        self._readahead = readahead_segments
        self._position = 0
        self._closed = False

    @property
    def size(self) -> int:
        return self._sealed.plain_size

    @property
    def name(self) -> str:
        return self._sealed.key

    @property
    def closed(self) -> bool:
        return self._closed

    def readable(self) -> bool:
        self._check_open()
        return True

    def seekable(self) -> bool:
        self._check_open()
        return True

    def writable(self) -> bool:
        self._check_open()
        return False

    def tell(self) -> int:
        self._check_open()
        return self._position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._check_open()
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence: {whence}")
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._position = position
        return position

    def read(self, size: int | None = -1) -> bytes:
        """Up to ``size`` bytes (all that is left when ``size`` is negative or None); fewer only
        at the end of the object."""
        self._check_open()
        if threading.get_ident() == self._loop_thread:
            raise RuntimeError("read a SealedFile from a worker thread, not the event loop's")
        start = self._position
        available = max(0, self.size - start)
        end = start + (available if size is None or size < 0 else min(size, available))
        pieces: list[memoryview] = []
        position = start
        segment_size = self._sealed.segment_size
        while position < end:
            index = position // segment_size
            plaintext = self._segment(index)
            low = position - index * segment_size
            high = min(len(plaintext), end - index * segment_size)
            pieces.append(memoryview(plaintext)[low:high])
            position += high - low
        self._position = end
        return bytes(pieces[0]) if len(pieces) == 1 else b"".join(pieces)

    def readinto(self, buffer: bytearray | memoryview) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._closed = True
        self._cache.clear()

    def __enter__(self) -> SealedFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def _check_open(self) -> None:
        if self._closed:
            raise ValueError("I/O operation on closed file")

    def _segment(self, index: int) -> bytes:
        cached = self._cache.get(index)
        if cached is not None:
            self._cache.move_to_end(index)
            return cached
        last = index
        while (
            last + 1 < min(index + self._readahead, self._sealed.segment_count)
            and last + 1 not in self._cache
        ):
            last += 1
        fetched = from_thread.run(self._sealed.read_segments, index, last, token=self._token)
        for number, plaintext in enumerate(fetched, start=index):
            self._cache[number] = plaintext
            self._cache.move_to_end(number)
        while len(self._cache) > self._cache_segments:
            self._cache.popitem(last=False)
        return fetched[0]


async def open_sealed_file(
    store: ObjectStore,
    key: str,
    *,
    data_key: bytes,
    object_ref: str,
    plain_size: int,
    cache_segments: int = CACHE_SEGMENTS,
    readahead_segments: int = READAHEAD_SEGMENTS,
) -> SealedFile:
    """Check the sealed object at ``key`` (as ``SealedObject.open``) and return a file over it;
    call from the event loop, then hand the file to a worker thread."""
    sealed = await SealedObject.open(
        store,
        key,
        data_key=data_key,
        object_ref=object_ref,
        plain_size=plain_size,
    )
    return SealedFile(sealed, cache_segments=cache_segments, readahead_segments=readahead_segments)
