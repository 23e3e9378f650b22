"""The seekable file over a sealed object, read from worker threads as PyAV reads it."""

from __future__ import annotations

import array
import io
import math
import os
import random
import wave

import av
import pytest
from anyio import to_thread

from aicc.core.storage import ObjectStore
from aicc.recording.sealing import SealedFile, SealedObject, SealedObjectCorrupt, open_sealed_file
from tests.recording.test_sealing import (
    REF,
    data_key,
    s3_store,
    store,
    store_sealed,
    stored_bytes,
)

__all__ = ["data_key", "s3_store", "store"]


def random_walk(sealed: SealedFile, plaintext: bytes, seed: int, steps: int) -> int:
    """Seek and read ``sealed`` and a BytesIO over ``plaintext`` alike; return bytes compared."""
    rng = random.Random(seed)
    expected = io.BytesIO(plaintext)
    compared = 0
    for _ in range(steps):
        whence = rng.choice([io.SEEK_SET, io.SEEK_CUR, io.SEEK_END])
        low = {io.SEEK_SET: 0, io.SEEK_CUR: -sealed.tell(), io.SEEK_END: -len(plaintext)}[whence]
        offset = rng.randint(low, low + len(plaintext) + 50)
        assert sealed.seek(offset, whence) == expected.seek(offset, whence)
        size = rng.choice([-1, 0, 1, 7, 100, 4096, rng.randint(0, 3 * len(plaintext) // 4)])
        data = sealed.read(size)
        assert data == expected.read(size)
        assert sealed.tell() == expected.tell()
        compared += len(data)
    return compared


@pytest.mark.parametrize(
    ("size", "segment_size", "cache", "readahead"),
    [(10_000, 256, 4, 2), (300_000, 65_536, 32, 16), (1, 64, 1, 1), (0, 64, 2, 1)],
)
async def test_seeks_and_reads_like_the_plaintext_from_a_worker_thread(
    store: ObjectStore, data_key: bytes, size: int, segment_size: int, cache: int, readahead: int
) -> None:
    plaintext = os.urandom(size)
    await store_sealed(store, "rec/f", plaintext, data_key, segment_size=segment_size)
    sealed = await open_sealed_file(
        store,
        "rec/f",
        data_key=data_key,
        object_ref=REF,
        plain_size=size,
        cache_segments=cache,
        readahead_segments=readahead,
    )

    assert (sealed.readable(), sealed.seekable(), sealed.writable()) == (True, True, False)
    compared = await to_thread.run_sync(random_walk, sealed, plaintext, size, 300)
    assert compared >= size
    sealed.seek(0)
    assert await to_thread.run_sync(sealed.read) == plaintext


async def test_readinto_and_closing(store: ObjectStore, data_key: bytes) -> None:
    plaintext = os.urandom(1000)
    await store_sealed(store, "rec/f", plaintext, data_key, segment_size=64)

    with await open_sealed_file(
        store, "rec/f", data_key=data_key, object_ref=REF, plain_size=1000
    ) as sealed:
        buffer = bytearray(300)
        sealed.seek(900)
        assert await to_thread.run_sync(sealed.readinto, buffer) == 100
        assert buffer[:100] == plaintext[900:]
    assert sealed.closed
    with pytest.raises(ValueError):
        sealed.read(1)


async def test_reading_from_the_event_loop_thread_is_refused(
    store: ObjectStore, data_key: bytes
) -> None:
    await store_sealed(store, "rec/f", b"abc", data_key)
    sealed = await open_sealed_file(store, "rec/f", data_key=data_key, object_ref=REF, plain_size=3)

    with pytest.raises(RuntimeError, match="worker thread"):
        sealed.read(1)


async def test_negative_seek_is_refused(store: ObjectStore, data_key: bytes) -> None:
    await store_sealed(store, "rec/f", b"abc", data_key)
    sealed = await open_sealed_file(store, "rec/f", data_key=data_key, object_ref=REF, plain_size=3)

    with pytest.raises(ValueError):
        sealed.seek(-4, io.SEEK_END)
    assert sealed.tell() == 0


async def test_corruption_is_raised_in_the_worker_thread(
    store: ObjectStore, data_key: bytes
) -> None:
    plaintext = os.urandom(5000)
    await store_sealed(store, "rec/f", plaintext, data_key, segment_size=512)
    stored = bytearray(await stored_bytes(store, "rec/f"))
    stored[-10] ^= 1
    await store.put("rec/f", bytes(stored))
    sealed = SealedFile(
        await SealedObject.open(store, "rec/f", data_key=data_key, object_ref=REF, plain_size=5000),
        cache_segments=2,
        readahead_segments=2,
    )

    assert await to_thread.run_sync(sealed.read, 4096) == plaintext[:4096]
    with pytest.raises(SealedObjectCorrupt) as raised:
        await to_thread.run_sync(sealed.read)
    assert raised.value.reason == "tampered"
    assert sealed.tell() == 4096


def wav_bytes(seconds: int, rate: int = 8000) -> bytes:
    samples = array.array("h", (int(9000 * math.sin(i / 7)) for i in range(seconds * rate)))
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(rate)
        writer.writeframes(samples.tobytes())
    return buffer.getvalue()


def decoded_samples(file: SealedFile) -> int:
    with av.open(file, "r") as container:
        return sum(frame.samples for frame in container.decode(audio=0))


async def test_pyav_decodes_a_sealed_wav_and_stops_on_tampering(
    store: ObjectStore, data_key: bytes
) -> None:
    wav = wav_bytes(seconds=4)
    await store_sealed(store, "rec/wav", wav, data_key, segment_size=4096)

    sealed = await open_sealed_file(
        store, "rec/wav", data_key=data_key, object_ref=REF, plain_size=len(wav)
    )
    assert await to_thread.run_sync(decoded_samples, sealed) == 4 * 8000

    stored = bytearray(await stored_bytes(store, "rec/wav"))
    stored[len(stored) // 2] ^= 0x80
    await store.put("rec/wav", bytes(stored))
    sealed = await open_sealed_file(
        store, "rec/wav", data_key=data_key, object_ref=REF, plain_size=len(wav)
    )
    with pytest.raises(SealedObjectCorrupt):
        await to_thread.run_sync(decoded_samples, sealed)


async def test_seeks_and_reads_on_s3(s3_store: ObjectStore, data_key: bytes) -> None:
    plaintext = os.urandom(700_000)
    await store_sealed(s3_store, "rec/f", plaintext, data_key)
    sealed = await open_sealed_file(
        s3_store,
        "rec/f",
        data_key=data_key,
        object_ref=REF,
        plain_size=len(plaintext),
        cache_segments=4,
        readahead_segments=2,
    )

    await to_thread.run_sync(random_walk, sealed, plaintext, 7, 40)
