"""Object store on S3 (or any S3-compatible service) through aiobotocore."""

from __future__ import annotations

import builtins
import logging
from collections.abc import AsyncIterable, AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio
from botocore.exceptions import ClientError

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

if TYPE_CHECKING:
    from types_aiobotocore_s3 import S3Client
    from types_aiobotocore_s3.type_defs import CompletedPartTypeDef, GetObjectOutputTypeDef

    from aicc.core.aws import AwsClients

logger = logging.getLogger(__name__)

MIN_PART_SIZE = 5 * 1024 * 1024
_OCTET_STREAM = "application/octet-stream"


class S3ObjectStore:
    """Objects live under ``prefix`` in ``bucket``; the client comes from ``clients`` (which
    owns and closes it) and connects on first use.

    The endpoint is ``endpoint_url`` (``S3_ENDPOINT_URL``) when given, else boto's
    ``AWS_ENDPOINT_URL_S3``, then ``AWS_ENDPOINT_URL``, then AWS.

    ``put`` reports ``last_modified`` from the local clock (S3 does not return it on upload);
    ``head`` reports the server's. ``list`` reports key, size, etag and last_modified only:
    content type and metadata need ``head``.
    """

    backend = "s3"

    def __init__(
        self,
        bucket: str,
        *,
        clients: AwsClients,
        region: str | None = None,
        endpoint_url: str | None = None,
        prefix: str = "",
        multipart_threshold: int = 8 * 1024 * 1024,
    ) -> None:
        if multipart_threshold < MIN_PART_SIZE:
            raise ValueError(f"multipart_threshold must be at least {MIN_PART_SIZE} bytes")
        self.bucket = bucket
        self.prefix = prefix
        self._clients = clients
        self._region = region
        self._endpoint_url = endpoint_url
        self._threshold = multipart_threshold

    async def put(
        self,
        key: str,
        data: bytes | AsyncIterable[bytes],
        *,
        content_type: str = _OCTET_STREAM,
        metadata: dict[str, str] | None = None,
    ) -> ObjectInfo:
        s3_key = self._key(key)
        normalised = user_metadata(metadata)
        client = await self._connect()
        async with aclosing(rechunk(data, self._threshold)) as parts:
            first = await anext(parts, b"")
            second = await anext(parts, None) if len(first) == self._threshold else None
            if second is None:
                response = await client.put_object(
                    Bucket=self.bucket,
                    Key=s3_key,
                    Body=first,
                    ContentType=content_type,
                    Metadata=normalised,
                )
                etag, size = response["ETag"], len(first)
            else:
                etag, size = await self._multipart(
                    client, s3_key, _chain((first, second), parts), content_type, normalised
                )
        return ObjectInfo(
            key=key,
            size=size,
            etag=etag.strip('"'),
            last_modified=datetime.now(UTC),
            content_type=content_type,
            metadata=normalised,
        )

    async def _multipart(
        self,
        client: S3Client,
        s3_key: str,
        parts: AsyncIterator[bytes],
        content_type: str,
        metadata: dict[str, str],
    ) -> tuple[str, int]:
        created = await client.create_multipart_upload(
            Bucket=self.bucket, Key=s3_key, ContentType=content_type, Metadata=metadata
        )
        upload_id = created["UploadId"]
        done: builtins.list[CompletedPartTypeDef] = []
        size = 0
        try:
            async for body in parts:
                number = len(done) + 1
                part = await client.upload_part(
                    Bucket=self.bucket, Key=s3_key, UploadId=upload_id, PartNumber=number, Body=body
                )
                done.append({"ETag": part["ETag"], "PartNumber": number})
                size += len(body)
            completed = await client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=s3_key,
                UploadId=upload_id,
                MultipartUpload={"Parts": done},
            )
        except BaseException:
            with anyio.CancelScope(shield=True):
                try:
                    await client.abort_multipart_upload(
                        Bucket=self.bucket, Key=s3_key, UploadId=upload_id
                    )
                except Exception:
                    logger.warning(
                        "could not abort multipart upload %s of %s",
                        upload_id,
                        s3_key,
                        exc_info=True,
                    )
            raise
        return completed["ETag"], size

    async def get(self, key: str, *, start: int = 0, end: int | None = None) -> ObjectReader:
        validate_key(key)
        if start < 0 or (end is not None and end < start):
            raise InvalidRange(f"invalid range {start}-{end} for {key}")
        client = await self._connect()
        span = f"bytes={start}-{'' if end is None else end}" if start or end is not None else None
        try:
            response = await self._get_object(client, key, span)
        except InvalidRange:
            if start > 0:
                raise
            # S3 refuses every range of an empty object, even bytes=0-.
            response = await self._get_object(client, key, None)
        size = response["ContentLength"]
        first = start
        content_range = response.get("ContentRange")
        if content_range:
            span, _, total = content_range.removeprefix("bytes ").partition("/")
            first, size = int(span.partition("-")[0]), int(total)
        last = size - 1 if end is None else min(end, size - 1)
        info = ObjectInfo(
            key=key,
            size=size,
            etag=response["ETag"].strip('"'),
            last_modified=response["LastModified"],
            content_type=response.get("ContentType", _OCTET_STREAM),
            metadata=response.get("Metadata", {}),
        )
        body = response["Body"]
        return StreamReader(info, first, last, read=body.read, close=body.aclose)

    async def _get_object(
        self, client: S3Client, key: str, span: str | None
    ) -> GetObjectOutputTypeDef:
        try:
            if span is None:
                return await client.get_object(Bucket=self.bucket, Key=self._key(key))
            return await client.get_object(Bucket=self.bucket, Key=self._key(key), Range=span)
        except ClientError as exc:
            _raise_mapped(exc, key)
            raise

    async def head(self, key: str) -> ObjectInfo:
        s3_key = self._key(key)
        client = await self._connect()
        try:
            response = await client.head_object(Bucket=self.bucket, Key=s3_key)
        except ClientError as exc:
            _raise_mapped(exc, key)
            raise
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response["ETag"].strip('"'),
            last_modified=response["LastModified"],
            content_type=response.get("ContentType", _OCTET_STREAM),
            metadata=response.get("Metadata", {}),
        )

    async def delete(self, key: str) -> None:
        s3_key = self._key(key)
        client = await self._connect()
        await client.delete_object(Bucket=self.bucket, Key=s3_key)

    async def list(self, prefix: str = "") -> AsyncIterator[ObjectInfo]:
        client = await self._connect()
        paginator = client.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + prefix):
            for item in page.get("Contents", []):
                key = self._unkey(item["Key"])
                try:
                    validate_key(key)
                except InvalidKey:
                    continue
                yield ObjectInfo(
                    key=key,
                    size=item["Size"],
                    etag=item["ETag"].strip('"'),
                    last_modified=item["LastModified"],
                )

    async def ping(self) -> None:
        client = await self._connect()
        await client.head_bucket(Bucket=self.bucket)

    async def close(self) -> None:
        """Nothing to release: the client belongs to the factory, closed with it."""

    async def _connect(self) -> S3Client:
        return await self._clients.client(
            "s3", region=self._region, endpoint_url=self._endpoint_url
        )

    def _key(self, key: str) -> str:
        return self.prefix + validate_key(key)

    def _unkey(self, s3_key: str) -> str:
        return s3_key.removeprefix(self.prefix)


async def _chain(head: tuple[bytes, ...], rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    for part in head:
        yield part
    async for part in rest:
        yield part


def _raise_mapped(exc: ClientError, key: str) -> None:
    error = exc.response.get("Error", {})
    code = error.get("Code", "")
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    if code in ("NoSuchKey", "404", "NotFound"):
        raise ObjectNotFound(key) from exc
    if code == "InvalidRange" or status == 416:
        raise InvalidRange(f"range not satisfiable for {key}") from exc
