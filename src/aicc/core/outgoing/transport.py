"""An httpx2 transport over an httpcore2 connection pool whose network backend is injected.

``httpx2.AsyncHTTPTransport`` builds its pool with the default backend and offers no way to
pass another, so this is the same adapter with that one door opened.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterable, AsyncIterator, Iterator
from contextlib import contextmanager

import httpcore2
import httpx2

from aicc.core.outgoing.addresses import BlockReason
from aicc.core.outgoing.refusals import BlockedDestination

ALLOWED_SCHEMES = frozenset({"http", "https"})

# Most specific first: the first match wins.
_ERROR_MAP: tuple[tuple[type[Exception], type[httpx2.RequestError]], ...] = (
    (httpcore2.ConnectTimeout, httpx2.ConnectTimeout),
    (httpcore2.ReadTimeout, httpx2.ReadTimeout),
    (httpcore2.WriteTimeout, httpx2.WriteTimeout),
    (httpcore2.PoolTimeout, httpx2.PoolTimeout),
    (httpcore2.TimeoutException, httpx2.TimeoutException),
    (httpcore2.ConnectError, httpx2.ConnectError),
    (httpcore2.ReadError, httpx2.ReadError),
    (httpcore2.WriteError, httpx2.WriteError),
    (httpcore2.NetworkError, httpx2.NetworkError),
    (httpcore2.ProxyError, httpx2.ProxyError),
    (httpcore2.UnsupportedProtocol, httpx2.UnsupportedProtocol),
    (httpcore2.LocalProtocolError, httpx2.LocalProtocolError),
    (httpcore2.RemoteProtocolError, httpx2.RemoteProtocolError),
    (httpcore2.ProtocolError, httpx2.ProtocolError),
)


@contextmanager
def _httpx_errors() -> Iterator[None]:
    try:
        yield
    except Exception as exc:
        for core_error, client_error in _ERROR_MAP:
            if isinstance(exc, core_error):
                raise client_error(str(exc)) from exc
        raise


class _ResponseStream(httpx2.AsyncByteStream):
    def __init__(self, stream: AsyncIterable[bytes]) -> None:
        self._stream = stream

    async def __aiter__(self) -> AsyncIterator[bytes]:
        with _httpx_errors():
            async for part in self._stream:
                yield part

    async def aclose(self) -> None:
        close = getattr(self._stream, "aclose", None)
        if close is not None:
            await close()


class PoolTransport(httpx2.AsyncBaseTransport):
    """HTTP/1.1 and, where TLS ALPN agrees, HTTP/2 over ``network_backend``.

    Only ``http`` and ``https`` URLs are sent; anything else raises
    :class:`BlockedDestination` before a connection is made. Never uses a proxy.
    """

    def __init__(
        self,
        network_backend: httpcore2.AsyncNetworkBackend,
        *,
        ssl_context: ssl.SSLContext,
        limits: httpx2.Limits,
        http2: bool,
    ) -> None:
        self._pool = httpcore2.AsyncConnectionPool(
            ssl_context=ssl_context,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=network_backend,
        )

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        if request.url.scheme not in ALLOWED_SCHEMES:
            raise BlockedDestination(BlockReason.SCHEME_NOT_ALLOWED)
        if not request.url.raw_host:
            raise BlockedDestination(BlockReason.INVALID_HOST)
        if not isinstance(request.stream, httpx2.AsyncByteStream):
            raise TypeError("an async transport needs an async request body")
        core_request = httpcore2.Request(
            method=request.method,
            url=httpcore2.URL(
                scheme=request.url.raw_scheme,
                host=request.url.raw_host,
                port=request.url.port,
                target=request.url.raw_path,
            ),
            headers=request.headers.raw,
            content=request.stream,
            extensions=request.extensions,
        )
        with _httpx_errors():
            response = await self._pool.handle_async_request(core_request)
        if not isinstance(response.stream, AsyncIterable):
            raise TypeError("the connection pool returned a synchronous body")
        return httpx2.Response(
            status_code=response.status,
            headers=response.headers,
            stream=_ResponseStream(response.stream),
            extensions=response.extensions,
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
