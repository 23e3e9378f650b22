"""The backends a service process uses, opened once and shared by every app in the process."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aicc.core.cache import Cache, open_cache
from aicc.core.config import Settings
from aicc.core.db import Database
from aicc.core.secrets import ensure_data_dir
from aicc.core.storage import ObjectStore, open_local_store, open_s3_store

if TYPE_CHECKING:
    from aicc.core.aws import AwsClients
    from aicc.core.keys import DataKeys


@dataclass
class Resources:
    settings: Settings
    database: Database
    cache: Cache
    storage: ObjectStore
    aws: AwsClients
    """Every AWS client of the process (S3, KMS, ...), opened on first use."""
    _data_keys: DataKeys | None = field(default=None, init=False, repr=False)

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        """Build the clients; none of them connects until first used."""
        from aicc.core.aws import AwsClients

        if settings.embedded_database or settings.storage.bucket is None:
            ensure_data_dir(settings)
        aws = AwsClients(settings.aws)
        if settings.storage.bucket:
            storage = open_s3_store(
                settings.storage.bucket,
                clients=aws,
                region=settings.aws.region,
                endpoint_url=settings.storage.endpoint_url,
                prefix=settings.storage.prefix,
                multipart_threshold=settings.storage.multipart_threshold,
            )
        else:
            storage = open_local_store(settings.object_store_dir)
        return cls(
            settings=settings,
            database=Database(settings.database_url, settings.database),
            cache=open_cache(settings.redis_url, prefix=settings.redis.key_prefix),
            storage=storage,
            aws=aws,
        )

    @property
    def data_keys(self) -> DataKeys:
        """The per-object data keys (envelope encryption), built on first use: reading the
        master keys may create the development key in the data folder."""
        if self._data_keys is None:
            from aicc.core.keys import DataKeys

            self._data_keys = DataKeys.from_settings(self.settings, self.database, self.aws)
        return self._data_keys

    async def close(self) -> None:
        await self.storage.close()
        await self.aws.close()
        await self.cache.close()
        await self.database.close()
