"""Sealing and opening stream: memory does not grow with the object's size."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager

import pytest

from aicc.core.storage import ObjectStore
from aicc.recording.sealing import open_range, seal
from tests.recording.test_sealing import REF, data_key, store

__all__ = ["data_key", "store"]

MiB = 1024 * 1024
SIZE = 48 * MiB
BLOCK = os.urandom(MiB)
LIMIT = 8 * MiB


async def generated(size: int, chunk: int) -> AsyncIterator[bytes]:
    """``size`` bytes in chunks of ``chunk``, without allocating more than one chunk at once."""
    view = memoryview(BLOCK)
    for offset in range(0, size, chunk):
        yield bytes(view[: min(chunk, size - offset)])


@contextmanager
def peak_growth() -> Iterator[list[int]]:
    """Peak memory allocated inside the block beyond what was held when it started."""
    result: list[int] = []
    tracemalloc.start()
    try:
        baseline = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        yield result
        result.append(tracemalloc.get_traced_memory()[1] - baseline)
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("chunk", [MiB, 3000])
async def test_sealing_a_large_stream_holds_little(
    store: ObjectStore, data_key: bytes, chunk: int
) -> None:
    size = SIZE if chunk == MiB else 4 * MiB
    held_by_sealer = 2 * 65_536
    held_by_test = 65_536 + 2 * chunk
    limit = held_by_sealer + held_by_test + 32 * 1024
    peaks = []
    for _ in range(3):  # tracemalloc sees every thread: a busy neighbour only adds, so retry
        sealing = seal(generated(size, chunk), data_key, REF)
        with peak_growth() as peak:
            sealed_bytes = 0
            async for piece in sealing:
                sealed_bytes += len(piece)
        assert sealing.plain_size == size
        assert sealed_bytes == sealing.sealed_size
        peaks.append(peak[0])
        if peak[0] < limit:
            break
    assert min(peaks) < limit, peaks


async def test_storing_and_opening_a_large_object_holds_little(
    store: ObjectStore, data_key: bytes
) -> None:
    sealing = seal(generated(SIZE, MiB), data_key, REF)
    with peak_growth() as stored_peak:
        await store.put("rec/big", sealing)

    digest = hashlib.sha256()
    pieces = open_range(store, "rec/big", data_key=data_key, object_ref=REF, plain_size=SIZE)
    with peak_growth() as opened_peak:
        async for piece in pieces:
            digest.update(piece)

    assert digest.hexdigest() == sealing.sha256
    assert stored_peak[0] < LIMIT, stored_peak[0]
    assert opened_peak[0] < LIMIT, opened_peak[0]
