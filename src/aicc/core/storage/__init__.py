"""Object stores chosen by settings: local disk (default) or S3 when ``S3_BUCKET`` is set."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from aicc.core.storage.base import (
    InvalidKey,
    InvalidRange,
    ObjectInfo,
    ObjectNotFound,
    ObjectReader,
    ObjectStore,
    validate_key,
)

if TYPE_CHECKING:
    from aicc.core.aws import AwsClients

__all__ = [
    "InvalidKey",
    "InvalidRange",
    "ObjectInfo",
    "ObjectNotFound",
    "ObjectReader",
    "ObjectStore",
    "open_local_store",
    "open_s3_store",
    "validate_key",
]


def open_local_store(root: Path) -> ObjectStore:
    from aicc.core.storage.local import LocalObjectStore

    return LocalObjectStore(root)


def open_s3_store(
    bucket: str,
    *,
    clients: AwsClients,
    region: str | None = None,
    endpoint_url: str | None = None,
    prefix: str = "",
    multipart_threshold: int = 8 * 1024 * 1024,
) -> ObjectStore:
    from aicc.core.storage.s3 import S3ObjectStore

    return S3ObjectStore(
        bucket,
        clients=clients,
        region=region,
        endpoint_url=endpoint_url,
        prefix=prefix,
        multipart_threshold=multipart_threshold,
    )
