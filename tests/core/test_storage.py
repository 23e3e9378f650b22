"""One contract for every object store: local disk and S3 (moto over real HTTP)."""

from __future__ import annotations

import asyncio
import hashlib
import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from aiobotocore.session import AioSession
from botocore.exceptions import ClientError

from aicc.core.aws import AwsClients
from aicc.core.config import AwsSettings, load_settings
from aicc.core.resources import Resources
from aicc.core.storage import (
    InvalidKey,
    InvalidRange,
    ObjectNotFound,
    ObjectStore,
    open_local_store,
    open_s3_store,
)

if TYPE_CHECKING:
    from aiobotocore.session import ClientCreatorContext
    from types_aiobotocore_s3 import S3Client

MiB = 1024 * 1024
DATA = b"0123456789"
DEAD_ENDPOINT = "http://127.0.0.1:9"


@pytest.fixture
async def aws() -> AsyncIterator[AwsClients]:
    clients = AwsClients(AwsSettings(_env_file=None, AWS_REGION="us-east-1"))
    yield clients
    await clients.close()


@pytest.fixture(params=["local", "s3"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, aws: AwsClients
) -> AsyncIterator[ObjectStore]:
    if request.param == "local":
        opened = open_local_store(tmp_path / "store")
    else:
        opened = open_s3_store(
            request.getfixturevalue("s3_bucket"),
            clients=aws,
            endpoint_url=request.getfixturevalue("moto_endpoint"),
            multipart_threshold=5 * MiB,
        )
    yield opened
    await opened.close()


def md5(data: bytes) -> str:
    return hashlib.md5(data, usedforsecurity=False).hexdigest()


def files_under(path: Path) -> list[Path]:
    """Files a local store left on disk (none for S3)."""
    return sorted(p for p in path.rglob("*") if p.is_file())


def s3_client(endpoint: str) -> ClientCreatorContext[S3Client]:
    return AioSession().create_client("s3", endpoint_url=endpoint, region_name="us-east-1")


async def pending_uploads(request: pytest.FixtureRequest) -> list[str]:
    async with s3_client(request.getfixturevalue("moto_endpoint")) as client:
        found = await client.list_multipart_uploads(Bucket=request.getfixturevalue("s3_bucket"))
    return [upload["Key"] for upload in found.get("Uploads", [])]


async def stream(data: bytes, sizes: tuple[int, ...]) -> AsyncIterator[bytes]:
    """Yield ``data`` in chunks cycling through ``sizes``."""
    offset = 0
    for size in itertools.cycle(sizes):
        if offset >= len(data):
            return
        yield data[offset : offset + size]
        offset += size


async def read_all(store: ObjectStore, key: str) -> bytes:
    reader = await store.get(key)
    try:
        return await reader.read()
    finally:
        await reader.aclose()


async def keys(store: ObjectStore, prefix: str = "") -> list[str]:
    return [info.key async for info in store.list(prefix)]


async def test_put_bytes_round_trips_content_and_metadata(store: ObjectStore) -> None:
    info = await store.put("docs/a", DATA, content_type="text/plain", metadata={"owner": "al"})

    reader = await store.get("docs/a")
    expected = ("docs/a", len(DATA), md5(DATA), "text/plain", {"owner": "al"})
    for got in (info, await store.head("docs/a"), reader.info):
        assert (got.key, got.size, got.etag, got.content_type, got.metadata) == expected
        assert got.last_modified.tzinfo is not None
    assert (reader.start, reader.end, await reader.read()) == (0, len(DATA) - 1, DATA)
    await reader.aclose()


async def test_metadata_names_are_lowercased_and_must_be_ascii(store: ObjectStore) -> None:
    await store.put("k", b"x", metadata={"Trace-Id": "abc"})
    assert (await store.head("k")).metadata == {"trace-id": "abc"}

    with pytest.raises(ValueError, match="ASCII"):
        await store.put("k2", b"x", metadata={"name": "é"})


@pytest.mark.parametrize(
    ("size", "chunks"),
    [(300_000, (1, 4096, 77_777)), (11 * MiB + 12_345, (3 * MiB + 1, 700_001, 17)), (10 * MiB, ())],
    ids=["stream", "multipart-stream", "multipart-bytes"],
)
async def test_round_trip(store: ObjectStore, size: int, chunks: tuple[int, ...]) -> None:
    data = os.urandom(size)

    info = await store.put("k", stream(data, chunks) if chunks else data, content_type="a/b")

    head = await store.head("k")
    assert (info.size, head.size, head.etag, head.content_type) == (size, size, info.etag, "a/b")
    if size < 5 * MiB:
        assert info.etag == md5(data)
    reader = await store.get("k")
    received = [chunk async for chunk in reader]
    await reader.aclose()
    assert b"".join(received) == data
    assert len(received) > 1 or size <= MiB


async def test_reader_closed_early(store: ObjectStore) -> None:
    await store.put("k", os.urandom(3 * MiB))

    reader = await store.get("k")
    assert await anext(aiter(reader))
    await reader.aclose()
    await reader.aclose()
    assert await reader.read() == b""


@pytest.mark.parametrize(
    ("start", "end", "expected", "last"),
    [
        (3, None, DATA[3:], 9),
        (2, 5, DATA[2:6], 5),
        (0, 0, DATA[:1], 0),
        (9, None, DATA[9:], 9),
        (8, 100, DATA[8:], 9),
    ],
)
async def test_byte_ranges(
    store: ObjectStore, start: int, end: int | None, expected: bytes, last: int
) -> None:
    await store.put("r", DATA)

    reader = await store.get("r", start=start, end=end)

    assert (reader.start, reader.end, reader.info.size) == (start, last, len(DATA))
    assert await reader.read() == expected
    await reader.aclose()


@pytest.mark.parametrize(("start", "end"), [(10, None), (11, 20), (-1, None), (5, 4)])
async def test_unsatisfiable_ranges(store: ObjectStore, start: int, end: int | None) -> None:
    await store.put("r", DATA)

    with pytest.raises(InvalidRange):
        await store.get("r", start=start, end=end)


async def test_empty_object(store: ObjectStore) -> None:
    info = await store.put("empty", b"", content_type="text/plain")
    assert (info.size, info.etag) == (0, md5(b""))

    for end in (None, 5):
        reader = await store.get("empty", end=end)
        assert (reader.start, reader.end, reader.info.size) == (0, -1, 0)
        assert await reader.read() == b""
        await reader.aclose()
    with pytest.raises(InvalidRange):
        await store.get("empty", start=1)


async def test_missing_key(store: ObjectStore) -> None:
    with pytest.raises(ObjectNotFound) as raised:
        await store.get("nope/missing")
    assert raised.value.key == "nope/missing"
    with pytest.raises(ObjectNotFound):
        await store.head("nope/missing")


async def test_delete_is_idempotent(store: ObjectStore) -> None:
    await store.put("d/k", DATA)

    await store.delete("d/k")
    await store.delete("d/k")
    await store.delete("never/there")

    with pytest.raises(ObjectNotFound):
        await store.head("d/k")
    assert await keys(store) == []


async def test_list_by_prefix_in_key_order(store: ObjectStore) -> None:
    names = ["b", "a/c/d", "a.txt", "ab", "a-c", "a/b", "a/c-e", "c/x"]
    for name in names:
        await store.put(name, name.encode())

    assert await keys(store) == sorted(names)
    assert await keys(store, "a/") == ["a/b", "a/c-e", "a/c/d"]
    assert await keys(store, "a/c") == ["a/c-e", "a/c/d"]
    assert await keys(store, "a") == ["a-c", "a.txt", "a/b", "a/c-e", "a/c/d", "ab"]
    assert await keys(store, "c/x") == ["c/x"]
    assert await keys(store, "zzz") == []
    listed = [info async for info in store.list("a/b")]
    assert [(i.size, i.etag) for i in listed] == [(3, md5(b"a/b"))]


async def test_overwrite_replaces_content_and_metadata(store: ObjectStore) -> None:
    await store.put("k", b"one", content_type="text/plain", metadata={"v": "1"})

    await store.put("k", b"two!!")

    head = await store.head("k")
    assert (head.size, head.content_type, head.metadata) == (5, "application/octet-stream", {})
    assert await read_all(store, "k") == b"two!!"
    assert await keys(store) == ["k"]


@pytest.mark.parametrize("size", [100, 11 * MiB], ids=["small", "multipart"])
async def test_failing_stream_leaves_no_object(
    store: ObjectStore, request: pytest.FixtureRequest, tmp_path: Path, size: int
) -> None:
    await store.put("kept", b"old")
    files = files_under(tmp_path)

    async def broken() -> AsyncIterator[bytes]:
        async for chunk in stream(os.urandom(size), (MiB,)):
            yield chunk
        raise RuntimeError("source failed")

    for key in ("new", "kept"):
        with pytest.raises(RuntimeError, match="source failed"):
            await store.put(key, broken())

    with pytest.raises(ObjectNotFound):
        await store.head("new")
    assert await read_all(store, "kept") == b"old"
    assert await keys(store) == ["kept"]
    assert files_under(tmp_path) == files
    if store.backend == "s3":
        assert await pending_uploads(request) == []


@pytest.mark.parametrize("size", [100, 11 * MiB], ids=["small", "multipart"])
async def test_cancelled_put_leaves_no_object_and_nothing_is_visible_early(
    store: ObjectStore, request: pytest.FixtureRequest, tmp_path: Path, size: int
) -> None:
    waiting = asyncio.Event()

    async def stalls() -> AsyncIterator[bytes]:
        async for chunk in stream(os.urandom(size), (MiB,)):
            yield chunk
        waiting.set()
        await asyncio.Event().wait()

    task = asyncio.create_task(store.put("k", stalls()))
    await asyncio.wait_for(waiting.wait(), 10)
    assert await keys(store) == []
    with pytest.raises(ObjectNotFound):
        await store.head("k")
    if store.backend == "s3" and size > 10 * MiB:
        assert await pending_uploads(request) == ["k"]

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    assert await keys(store) == []
    assert files_under(tmp_path) == []
    if store.backend == "s3":
        assert await pending_uploads(request) == []


@pytest.mark.parametrize("key", ["../x", "/abs", "a//b", "", "a/../b", "a/./b", "a/", "a b"])
async def test_invalid_keys_are_rejected(store: ObjectStore, key: str) -> None:
    for operation in (store.put(key, DATA), store.get(key), store.head(key), store.delete(key)):
        with pytest.raises(InvalidKey):
            await operation


async def test_ping(store: ObjectStore) -> None:
    assert isinstance(store, ObjectStore)
    await store.ping()


async def test_local_ping_fails_when_root_is_unusable(tmp_path: Path) -> None:
    root = tmp_path / "file"
    root.write_bytes(b"")

    with pytest.raises(OSError):
        await open_local_store(root).ping()


async def test_s3_ping_fails_for_missing_bucket(aws: AwsClients, moto_endpoint: str) -> None:
    store = open_s3_store("aicc-no-such-bucket", clients=aws, endpoint_url=moto_endpoint)
    try:
        with pytest.raises(ClientError):
            await store.ping()
    finally:
        await store.close()


async def test_s3_construction_does_not_connect(aws: AwsClients) -> None:
    store = open_s3_store("bucket", clients=aws, endpoint_url=DEAD_ENDPOINT)
    await store.close()
    assert aws.opened == 0
    with pytest.raises(ValueError, match="multipart_threshold"):
        open_s3_store("bucket", clients=aws, multipart_threshold=5 * MiB - 1)


@pytest.mark.parametrize("winner", ["S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"])
async def test_s3_endpoint_precedence(
    winner: str,
    tmp_path: Path,
    s3_bucket: str,
    moto_endpoint: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``S3_ENDPOINT_URL`` wins, then ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``."""
    order = ["S3_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
    for name in order:
        monkeypatch.delenv(name, raising=False)
    for name in order[order.index(winner) :]:
        monkeypatch.setenv(name, moto_endpoint if name == winner else DEAD_ENDPOINT)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("AICC_AWS_MAX_ATTEMPTS", "1")
    monkeypatch.setenv("AICC_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("S3_BUCKET", s3_bucket)
    resources = Resources.open(load_settings(env_file=None))
    try:
        await resources.storage.put("where", winner.encode())
        assert await read_all(resources.storage, "where") == winner.encode()
    finally:
        await resources.close()


async def test_s3_prefixes_isolate_stores(
    aws: AwsClients, s3_bucket: str, moto_endpoint: str
) -> None:
    a, b = (
        open_s3_store(s3_bucket, clients=aws, endpoint_url=moto_endpoint, prefix=prefix)
        for prefix in ("tenant-a/", "tenant-b/")
    )
    try:
        await a.put("k", b"from a")
        await b.put("k", b"from b")
        await b.put("only-b", b"x")

        assert await keys(a) == ["k"]
        assert await read_all(a, "k") == b"from a"
        assert await read_all(b, "k") == b"from b"
        with pytest.raises(ObjectNotFound):
            await a.head("only-b")
        async with s3_client(moto_endpoint) as client:
            raw = await client.list_objects_v2(Bucket=s3_bucket)
        stored = [o["Key"] for o in raw["Contents"]]
        assert stored == ["tenant-a/k", "tenant-b/k", "tenant-b/only-b"]
    finally:
        await a.close()
        await b.close()


async def test_local_cannot_hold_a_key_and_keys_under_it(tmp_path: Path) -> None:
    store = open_local_store(tmp_path)
    await store.put("a/b", b"x")

    for clash in ("a", "a/b/c"):
        with pytest.raises(InvalidKey, match="clashes"):
            await store.put(clash, b"y")

    assert await keys(store) == ["a/b"]
    assert await read_all(store, "a/b") == b"x"
