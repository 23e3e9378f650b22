"""The backends a service process uses, opened once and shared by every app in the process."""

from __future__ import annotations

from dataclasses import dataclass

from aicc.core.cache import Cache, open_cache
from aicc.core.config import Settings
from aicc.core.db import Database
from aicc.core.secrets import ensure_data_dir
from aicc.core.storage import ObjectStore, open_local_store, open_s3_store


@dataclass
class Resources:
    settings: Settings
    database: Database
    cache: Cache
    storage: ObjectStore

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        """Build the clients; none of them connects until first used."""
        if settings.embedded_database or settings.storage.bucket is None:
            ensure_data_dir(settings)
        if settings.storage.bucket:
            storage = open_s3_store(
                settings.storage.bucket,
                region=settings.storage.region,
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
        )

    async def close(self) -> None:
        await self.storage.close()
        await self.cache.close()
        await self.database.close()
