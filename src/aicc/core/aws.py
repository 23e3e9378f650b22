"""One factory for every AWS client (S3, KMS, and later SNS, SES, CloudWatch, Connect).

A process holds one :class:`AwsClients` (``resources.aws``). It keeps one aiobotocore session,
so credentials are resolved once through botocore's default chain (environment, shared config
and credentials files, SSO, container and instance roles), and opens each client on first use.

Endpoints follow boto's own rules, which aiobotocore applies natively: an ``endpoint_url``
passed here wins, then ``AWS_ENDPOINT_URL_<SERVICE>`` (``AWS_ENDPOINT_URL_KMS``,
``AWS_ENDPOINT_URL_S3``), then ``AWS_ENDPOINT_URL``, then the ``endpoint_url`` of the shared
config file, then AWS. The region is ``AWS_REGION`` (``settings.aws.region``) unless a call
names another; timeouts and the adaptive retry mode come from ``AICC_AWS_*``
(``AICC_AWS_MAX_ATTEMPTS`` counts every attempt, the first included: botocore's
``total_max_attempts``, whereas its ``max_attempts`` would count retries only).
"""

from __future__ import annotations

import asyncio
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, Literal, cast, overload

from aiobotocore.config import AioConfig
from aiobotocore.session import AioSession

from aicc.core.config import AwsSettings

if TYPE_CHECKING:
    from types_aiobotocore_kms import KMSClient
    from types_aiobotocore_s3 import S3Client

ClientKey = tuple[str, str, str | None]


class AwsClients:
    """Clients shared by everything in the process, keyed by service, region and endpoint.

    A client is opened on first request and reused afterwards; :meth:`close` closes every
    client opened so far (a later request opens a fresh one).
    """

    def __init__(self, settings: AwsSettings) -> None:
        self.region = settings.region
        self.config = AioConfig(
            connect_timeout=settings.connect_timeout,
            read_timeout=settings.read_timeout,
            retries={"mode": "adaptive", "total_max_attempts": settings.max_attempts},
            warm_up_loader_caches=True,
        )
        self._session = AioSession()
        self._clients: dict[ClientKey, Any] = {}
        self._stack = AsyncExitStack()
        self._lock = asyncio.Lock()

    @overload
    async def client(
        self, service: Literal["s3"], *, region: str | None = None, endpoint_url: str | None = None
    ) -> S3Client: ...

    @overload
    async def client(
        self, service: Literal["kms"], *, region: str | None = None, endpoint_url: str | None = None
    ) -> KMSClient: ...

    @overload
    async def client(
        self, service: str, *, region: str | None = None, endpoint_url: str | None = None
    ) -> Any: ...

    async def client(
        self, service: str, *, region: str | None = None, endpoint_url: str | None = None
    ) -> Any:
        """The client of ``service`` (botocore's name: ``"s3"``, ``"kms"``, ``"sns"``, ...).

        ``region`` defaults to ``AWS_REGION``; ``endpoint_url`` overrides the endpoint
        environment variables (leave it None to honour them).
        """
        key: ClientKey = (service, region or self.region, endpoint_url)
        found = self._clients.get(key)
        if found is not None:
            return found
        async with self._lock:
            found = self._clients.get(key)
            if found is None:
                session = cast(Any, self._session)
                found = await self._stack.enter_async_context(
                    session.create_client(
                        service, region_name=key[1], endpoint_url=endpoint_url, config=self.config
                    )
                )
                self._clients[key] = found
            return found

    @property
    def opened(self) -> int:
        """How many clients are open now."""
        return len(self._clients)

    async def close(self) -> None:
        async with self._lock:
            stack, self._stack = self._stack, AsyncExitStack()
            self._clients.clear()
            await stack.aclose()
