"""The sealed-object format: layout, round trips and byte ranges (local store and S3)."""

from __future__ import annotations

import hashlib
import itertools
import os
import struct
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from aicc.core.aws import AwsClients
from aicc.core.config import AwsSettings
from aicc.core.storage import (
    InvalidRange,
    ObjectReader,
    ObjectStore,
    open_local_store,
    open_s3_store,
)
from aicc.recording.sealing import (
    SEGMENT_SIZE,
    SealedObject,
    SealingStream,
    open_range,
    resolve_range,
    seal,
    sealed_size,
)

KiB = 1024
MiB = 1024 * KiB
REF = "recording:0f6c2d1e"


async def chunked(data: bytes, sizes: Iterable[int]) -> AsyncIterator[bytes]:
    """Yield ``data`` in chunks cycling through ``sizes``; an empty chunk after each."""
    offset = 0
    for size in itertools.cycle(sizes):
        if offset >= len(data):
            return
        yield data[offset : offset + size]
        yield b""
        offset += size


async def store_sealed(
    store: ObjectStore,
    key: str,
    plaintext: bytes,
    data_key: bytes,
    *,
    ref: str = REF,
    chunk_sizes: Iterable[int] = (100_000,),
    segment_size: int = SEGMENT_SIZE,
) -> SealingStream:
    sealing = seal(chunked(plaintext, chunk_sizes), data_key, ref, segment_size=segment_size)
    info = await store.put(key, sealing)
    assert info.size == sealing.sealed_size == sealed_size(len(plaintext), ref, segment_size)
    return sealing


async def opened(
    store: ObjectStore,
    key: str,
    plaintext: bytes,
    data_key: bytes,
    *,
    ref: str = REF,
    start: int = 0,
    end: int | None = None,
) -> bytes:
    pieces = open_range(
        store,
        key,
        data_key=data_key,
        object_ref=ref,
        plain_size=len(plaintext),
        start=start,
        end=end,
    )
    return b"".join([piece async for piece in pieces])


async def stored_bytes(store: ObjectStore, key: str) -> bytes:
    reader = await store.get(key)
    try:
        return await reader.read()
    finally:
        await reader.aclose()


class GetRecorder:
    """A real store that also notes every range read through it."""

    def __init__(self, store: ObjectStore) -> None:
        self.backend = store.backend
        self.reads: list[tuple[int, int | None]] = []
        self._store = store

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> ObjectReader:
        self.reads.append((start, end))
        return await self._store.get(key, start=start, end=end)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


@pytest.fixture
def data_key() -> bytes:
    return os.urandom(32)


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return open_local_store(tmp_path / "store")


@pytest.fixture
async def s3_store(s3_bucket: str, moto_endpoint: str) -> AsyncIterator[ObjectStore]:
    clients = AwsClients(AwsSettings(_env_file=None, AWS_REGION="us-east-1"))
    store = open_s3_store(
        s3_bucket,
        clients=clients,
        region="us-east-1",
        endpoint_url=moto_endpoint,
        multipart_threshold=5 * MiB,
    )
    yield store
    await store.close()
    await clients.close()


SIZES = [0, 1, 65_535, 65_536, 65_537, 3 * 65_536, 3 * 65_536 + 1234]
CHUNKINGS = [(7, 4093), (65_536,), (65_535, 1, 65_537), (10 * MiB,)]


@pytest.mark.parametrize("chunk_sizes", CHUNKINGS, ids=lambda sizes: "-".join(map(str, sizes)))
@pytest.mark.parametrize("size", SIZES)
async def test_round_trip(
    store: ObjectStore, data_key: bytes, size: int, chunk_sizes: tuple[int, ...]
) -> None:
    plaintext = os.urandom(size)

    sealing = await store_sealed(store, "rec/a", plaintext, data_key, chunk_sizes=chunk_sizes)

    assert (sealing.plain_size, sealing.sha256) == (size, hashlib.sha256(plaintext).hexdigest())
    assert await opened(store, "rec/a", plaintext, data_key) == plaintext


async def test_header_and_segments_follow_the_documented_format(
    store: ObjectStore, data_key: bytes
) -> None:
    plaintext = os.urandom(2 * SEGMENT_SIZE + 10)
    await store_sealed(store, "rec/a", plaintext, data_key)
    stored = await stored_bytes(store, "rec/a")

    ref = REF.encode()
    magic, version, segment_size, salt, prefix, ref_length = struct.unpack_from(
        ">7sBI16s7sH", stored
    )
    assert (magic, version, segment_size, ref_length) == (b"AICCREC", 1, 65_536, len(ref))
    header_end = 37 + len(ref)
    assert stored[37:header_end] == ref
    header = stored[:header_end]
    hkdf = HKDF(hashes.SHA256(), length=32, salt=salt, info=b"aicc-recording-segments")
    aead = AESGCM(hkdf.derive(data_key))
    stride = SEGMENT_SIZE + 16
    segments = [stored[header_end + i * stride : header_end + (i + 1) * stride] for i in range(3)]
    decrypted = [
        aead.decrypt(prefix + struct.pack(">IB", i, i == 2), segment, header)
        for i, segment in enumerate(segments)
    ]
    assert b"".join(decrypted) == plaintext
    assert len(stored) == header_end + len(plaintext) + 3 * 16


async def test_sealing_twice_gives_unrelated_ciphertexts(
    store: ObjectStore, data_key: bytes
) -> None:
    plaintext = b"same plaintext" * 1000
    await store_sealed(store, "a", plaintext, data_key)
    await store_sealed(store, "b", plaintext, data_key)

    first, second = await stored_bytes(store, "a"), await stored_bytes(store, "b")
    header_end = 37 + len(REF)
    assert first[:12] == second[:12]
    assert first[12:header_end] != second[12:header_end]
    assert first[header_end:][:64] != second[header_end:][:64]


async def test_every_range_of_a_small_multi_segment_object(
    store: ObjectStore, data_key: bytes
) -> None:
    segment_size = 16
    plaintext = os.urandom(4 * segment_size + 5)
    await store_sealed(
        store, "rec/r", plaintext, data_key, chunk_sizes=(5, 30), segment_size=segment_size
    )
    sealed = await SealedObject.open(
        store, "rec/r", data_key=data_key, object_ref=REF, plain_size=len(plaintext)
    )

    for start in range(len(plaintext)):
        for end in [*range(start, len(plaintext) + 2), None]:
            pieces = [piece async for piece in sealed.iter_range(start, end)]
            stop = len(plaintext) if end is None else end + 1
            assert b"".join(pieces) == plaintext[start:stop], (start, end)


@pytest.mark.parametrize(("start", "end"), [(0, 0), (63, 64), (100, 227), (64, 191), (5, None)])
async def test_ranges_with_64_byte_segments_read_only_their_segments(
    store: ObjectStore, data_key: bytes, start: int, end: int | None
) -> None:
    plaintext = os.urandom(4 * 64 + 17)
    await store_sealed(store, "rec/r", plaintext, data_key, segment_size=64)
    spied = GetRecorder(store)

    got = await opened(cast(ObjectStore, spied), "rec/r", plaintext, data_key, start=start, end=end)

    assert got == plaintext[start : None if end is None else end + 1]
    header = 37 + len(REF)
    last = len(plaintext) - 1 if end is None else end
    first_segment, last_segment = start // 64, last // 64
    assert spied.reads == [
        (0, header - 1),
        (header + first_segment * 80, header + min((last_segment + 1) * 80, 4 * 80 + 33) - 1),
    ]


@pytest.mark.parametrize("suffix", [1, 100, 65_536, 65_537, 200_000, 500_000])
async def test_suffix_ranges(store: ObjectStore, data_key: bytes, suffix: int) -> None:
    plaintext = os.urandom(3 * SEGMENT_SIZE + 999)
    await store_sealed(store, "rec/s", plaintext, data_key)

    start = max(0, len(plaintext) - suffix)
    assert await opened(store, "rec/s", plaintext, data_key, start=start) == plaintext[-suffix:]
    assert (
        await opened(store, "rec/s", plaintext, data_key, start=start, end=10**12)
        == (plaintext[-suffix:])
    )


@pytest.mark.parametrize(("start", "end"), [(10, None), (10, 20), (-1, None), (5, 4)])
async def test_unsatisfiable_ranges_fail_before_reading(
    store: ObjectStore, data_key: bytes, start: int, end: int | None
) -> None:
    with pytest.raises(InvalidRange):
        await opened(store, "never/stored", b"0123456789", data_key, start=start, end=end)


def test_resolve_range_clips_like_http() -> None:
    assert resolve_range(10) == (0, 9)
    assert resolve_range(10, 3, 100) == (3, 9)
    assert resolve_range(0) == (0, -1)
    assert resolve_range(0, 0, 5) == (0, -1)
    with pytest.raises(InvalidRange):
        resolve_range(0, 1)
    with pytest.raises(InvalidRange):
        resolve_range(10, 10)


def test_sealed_size() -> None:
    header = 37 + len(REF)
    assert sealed_size(0, REF) == header + 16
    assert sealed_size(65_536, REF) == header + 65_536 + 16
    assert sealed_size(65_537, REF) == header + 65_537 + 32
    assert sealed_size(100, "r", segment_size=64) == 38 + 100 + 32


async def test_results_are_unavailable_until_sealing_finished(data_key: bytes) -> None:
    sealing = seal(chunked(b"x" * 200_000, (1000,)), data_key, REF)
    header = await anext(sealing)

    assert header.startswith(b"AICCREC\x01")
    with pytest.raises(RuntimeError):
        _ = sealing.sha256
    with pytest.raises(RuntimeError):
        _ = sealing.plain_size
    await sealing.aclose()


async def test_sealing_yields_segments_as_the_plaintext_arrives(data_key: bytes) -> None:
    arrived = 0

    async def source() -> AsyncIterator[bytes]:
        nonlocal arrived
        for _ in range(10):
            arrived += 1
            yield os.urandom(30_000)

    sealing = seal(source(), data_key, REF)
    sizes: list[tuple[int, int]] = [(len(piece), arrived) async for piece in sealing]

    final = 300_000 - 4 * 65_536 + 16
    assert [size for size, _ in sizes] == [37 + len(REF), *[65_536 + 16] * 4, final]
    assert [when for _, when in sizes] == [0, 3, 5, 7, 9, 10]


@pytest.mark.parametrize(
    ("data_key", "ref", "segment_size"),
    [
        (b"short", REF, SEGMENT_SIZE),
        (bytes(32), "", SEGMENT_SIZE),
        (bytes(32), "r" * 1025, SEGMENT_SIZE),
        (bytes(32), REF, 0),
        (bytes(32), REF, MiB + 1),
    ],
    ids=["key", "empty-ref", "long-ref", "segment-0", "segment-huge"],
)
def test_seal_refuses_bad_parameters(data_key: bytes, ref: str, segment_size: int) -> None:
    with pytest.raises(ValueError):
        seal(chunked(b"", (1,)), data_key, ref, segment_size=segment_size)


async def test_object_ref_of_1024_bytes(store: ObjectStore, data_key: bytes) -> None:
    ref = "recording:" + "é" * 507
    assert len(ref.encode()) == 1024
    await store_sealed(store, "rec/long", b"payload", data_key, ref=ref)

    assert await opened(store, "rec/long", b"payload", data_key, ref=ref) == b"payload"


async def test_s3_round_trip_multipart_and_ranges(s3_store: ObjectStore, data_key: bytes) -> None:
    plaintext = os.urandom(6 * MiB + 12_345)
    sealing = await store_sealed(
        s3_store, "rec/s3", plaintext, data_key, chunk_sizes=(1_000_003, 4096)
    )

    assert sealing.sha256 == hashlib.sha256(plaintext).hexdigest()
    assert await opened(s3_store, "rec/s3", plaintext, data_key) == plaintext
    for start, end in [(0, 0), (65_535, 65_536), (5 * MiB, None), (len(plaintext) - 1, None)]:
        got = await opened(s3_store, "rec/s3", plaintext, data_key, start=start, end=end)
        assert got == plaintext[start : None if end is None else end + 1]


async def test_s3_empty_object(s3_store: ObjectStore, data_key: bytes) -> None:
    await store_sealed(s3_store, "rec/empty", b"", data_key)

    assert await opened(s3_store, "rec/empty", b"", data_key) == b""


async def test_long_ranges_are_read_in_bounded_pieces(store: ObjectStore, data_key: bytes) -> None:
    plaintext = os.urandom(10 * 64 + 3)
    await store_sealed(store, "rec/r", plaintext, data_key, segment_size=64)
    spied = GetRecorder(store)
    sealed = await SealedObject.open(
        cast(ObjectStore, spied),
        "rec/r",
        data_key=data_key,
        object_ref=REF,
        plain_size=len(plaintext),
        read_size=3 * 80,
    )

    got = b"".join([piece async for piece in sealed.iter_range(70, None)])

    assert got == plaintext[70:]
    header = 37 + len(REF)
    spans = [
        (header + first * 80, header + min(first * 80 + 240, 10 * 80 + 19) - 1)
        for first in (1, 4, 7, 10)
    ]
    assert spied.reads == [(0, header - 1), *spans]
