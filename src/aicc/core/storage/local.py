"""Object store on the local filesystem: the embedded default.

Layout under ``root``::

    objects/<key>   the object's bytes
    meta/<key>      JSON sidecar: content type, user metadata, etag, size and file identity
    tmp/            writes in progress, renamed into place when complete

The sidecar tree mirrors the object tree, so every key that fits one fits the other. A sidecar
records the identity (inode, size, mtime) of the data file it describes; one that does not match
the file beside it (after a crash or a racing overwrite between the two renames) is ignored in
favour of ``stat`` and defaults.
"""

from __future__ import annotations

import builtins
import hashlib
import json
import os
import stat
import uuid
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import aclosing, suppress
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import BinaryIO

import anyio
from anyio import to_thread

from aicc.core.storage.base import (
    InvalidKey,
    InvalidRange,
    ObjectInfo,
    ObjectNotFound,
    ObjectReader,
    StreamReader,
    rechunk,
    user_metadata,
    validate_key,
)

CHUNK_SIZE = 1024 * 1024
_OCTET_STREAM = "application/octet-stream"


class LocalObjectStore:
    """``list()`` reports key, size, etag and last_modified; content type and metadata need
    ``head()`` (as with S3, whose listing does not carry them)."""

    backend = "local"

    def __init__(self, root: Path) -> None:
        self._objects = root / "objects"
        self._meta = root / "meta"
        self._tmp = root / "tmp"

    async def put(
        self,
        key: str,
        data: bytes | AsyncIterable[bytes],
        *,
        content_type: str = _OCTET_STREAM,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        validate_key(key)
        normalised = user_metadata(metadata)
        await to_thread.run_sync(self._prepare)
        upload = _Upload(self._tmp / f"{uuid.uuid4().hex}.part")
        try:
            async with aclosing(rechunk(data, CHUNK_SIZE)) as blocks:
                async for block in blocks:
                    await to_thread.run_sync(upload.write, block)
            st = await to_thread.run_sync(upload.finish)
            info = replace(
                _stat_info(key, st),
                etag=upload.md5.hexdigest(),
                content_type=content_type,
                metadata=normalised,
            )
            await to_thread.run_sync(self._commit, key, upload.path, info, st)
        except BaseException:
            with anyio.CancelScope(shield=True):
                await to_thread.run_sync(upload.discard)
            raise
        return info

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> ObjectReader:
        validate_key(key)
        if start < 0 or (end is not None and end < start):
            raise InvalidRange(f"invalid range {start}-{end} for {key}")
        return await to_thread.run_sync(self._open, key, start, end)

    async def head(self, key: str) -> ObjectInfo:
        validate_key(key)
        return await to_thread.run_sync(self._head, key)

    async def delete(self, key: str) -> None:
        validate_key(key)
        await to_thread.run_sync(self._delete, key)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        stack = [await to_thread.run_sync(self._scan, "", prefix)]
        while stack:
            entries = stack[-1]
            if not entries:
                stack.pop()
                continue
            entry = entries.pop()
            if isinstance(entry, ObjectInfo):
                yield entry
            else:
                stack.append(await to_thread.run_sync(self._scan, entry, prefix))

    async def ping(self) -> None:
        await to_thread.run_sync(self._ping)

    async def close(self) -> None:
        return None

    def _prepare(self) -> None:
        for directory in (self._objects, self._meta, self._tmp):
            _makedirs(directory)

    def _commit(self, key: str, tmp: Path, info: ObjectInfo, st: os.stat_result) -> None:
        sidecar = {
            "content_type": info.content_type,
            "metadata": info.metadata,
            "etag": info.etag,
            "size": info.size,
            "identity": _identity(st),
        }
        meta = _Upload(self._tmp / f"{uuid.uuid4().hex}.meta")
        placed = False
        try:
            meta.write(json.dumps(sidecar).encode())
            meta.finish()
            _place(meta.path, self._meta / key)
            placed = True
            _place(tmp, self._objects / key)
        except BaseException as exc:
            meta.discard()
            if placed:
                with suppress(OSError):
                    (self._meta / key).unlink()
            if isinstance(exc, FileExistsError | NotADirectoryError | IsADirectoryError):
                raise InvalidKey(
                    f"{key!r} clashes with an object or prefix already stored"
                ) from exc
            raise

    def _open(self, key: str, start: int, end: int | None) -> StreamReader:
        try:
            file = (self._objects / key).open("rb")
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            raise ObjectNotFound(key) from None
        try:
            info = self._info(key, os.fstat(file.fileno()))
            last = info.size - 1
            if start > last and not (start == 0 and info.size == 0):
                raise InvalidRange(
                    f"range start {start} is past the end of {key} ({info.size} bytes)"
                )
            file.seek(start)
        except BaseException:
            file.close()
            raise
        return StreamReader(
            info,
            start,
            last if end is None else min(end, last),
            read=partial(to_thread.run_sync, file.read),
            close=partial(to_thread.run_sync, file.close),
        )

    def _head(self, key: str) -> ObjectInfo:
        try:
            st = (self._objects / key).stat()
        except (FileNotFoundError, NotADirectoryError):
            raise ObjectNotFound(key) from None
        if not stat.S_ISREG(st.st_mode):
            raise ObjectNotFound(key)
        return self._info(key, st)

    def _info(self, key: str, st: os.stat_result) -> ObjectInfo:
        info = _stat_info(key, st)
        try:
            sidecar = json.loads((self._meta / key).read_bytes())
            if sidecar["identity"] != _identity(st):
                return info
            return replace(
                info,
                etag=str(sidecar["etag"]),
                content_type=str(sidecar["content_type"]),
                metadata={str(k): str(v) for k, v in sidecar["metadata"].items()},
            )
        except (OSError, ValueError, LookupError, TypeError, AttributeError):
            return info

    def _delete(self, key: str) -> None:
        for path in (self._objects / key, self._meta / key):
            with suppress(NotADirectoryError):
                if not path.is_dir():
                    path.unlink(missing_ok=True)

    def _scan(self, directory: str, prefix: str) -> builtins.list[ObjectInfo | str]:
        """One directory's objects matching ``prefix`` and subdirectories that may hold some,
        in reverse key order (a subdirectory ``d`` sorts as ``d/``)."""
        try:
            with os.scandir(self._objects / directory) as it:
                entries = [(f"{directory}{entry.name}", entry) for entry in it]
        except (FileNotFoundError, NotADirectoryError):
            return []
        found: builtins.list[tuple[str, ObjectInfo | str]] = []
        for key, entry in entries:
            if not _valid(key):
                continue
            if entry.is_dir(follow_symlinks=False):
                if (sub := f"{key}/").startswith(prefix) or prefix.startswith(sub):
                    found.append((sub, sub))
            elif key.startswith(prefix):
                with suppress(FileNotFoundError):
                    st = entry.stat(follow_symlinks=False)
                    if stat.S_ISREG(st.st_mode):
                        info = self._info(key, st)
                        found.append((key, replace(info, content_type=_OCTET_STREAM, metadata={})))
        found.sort(key=lambda item: item[0], reverse=True)
        return [item for _, item in found]

    def _ping(self) -> None:
        self._prepare()
        probe = _Upload(self._tmp / f"{uuid.uuid4().hex}.ping")
        try:
            probe.write(b"ping")
            probe.finish()
        finally:
            probe.discard()


def _valid(key: str) -> bool:
    try:
        validate_key(key)
    except InvalidKey:
        return False
    return True


def _makedirs(path: Path) -> None:
    missing: builtins.list[Path] = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)


def _create_private(path: Path) -> int:
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)


class _Upload:
    """A temp file being written and hashed; opened on first use, inside a worker thread."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.md5 = hashlib.md5(usedforsecurity=False)
        self._file: BinaryIO | None = None

    def _open(self) -> BinaryIO:
        if self._file is None:
            self._file = os.fdopen(_create_private(self.path), "wb")
        return self._file

    def write(self, block: bytes) -> None:
        self._open().write(block)
        self.md5.update(block)

    def finish(self) -> os.stat_result:
        file = self._open()
        file.flush()
        os.fsync(file.fileno())
        st = os.fstat(file.fileno())
        file.close()
        return st

    def discard(self) -> None:
        if self._file is not None:
            self._file.close()
        self.path.unlink(missing_ok=True)


def _place(source: Path, target: Path) -> None:
    _makedirs(target.parent)
    os.replace(source, target)
    if os.name == "posix":
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _stat_info(key: str, st: os.stat_result) -> ObjectInfo:
    return ObjectInfo(
        key=key,
        size=st.st_size,
        etag=f"{st.st_mtime_ns:x}-{st.st_size:x}",
        last_modified=datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=UTC),
    )


def _identity(st: os.stat_result) -> builtins.list[int]:
    return [st.st_ino, st.st_size, st.st_mtime_ns]
