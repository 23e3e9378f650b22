"""A recording's audio and files for the browser (``recordings:download``), streamed from the
recording service with the signed-in user's token, which never leaves the server.

The player's ``Range`` and ``If-Range`` pass through, and the service's answer comes back as
it is (206 with ``Content-Range``, 416, ``ETag``), in chunks of at most ``CHUNK`` bytes as the
browser reads them: the console holds one chunk per stream whatever the file's size. Streams
use their own connection pool, so players that keep a connection open (a paused or deferred
load) never make the pages wait for a connection to the recording service.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Literal

import httpx2
from fastapi import Depends, FastAPI, Path, Query
from fastapi.responses import Response, StreamingResponse
from starlette.types import Receive, Scope, Send

from aicc.console.dependencies import Visit, require
from aicc.console.errors import (
    NotAllowed,
    PageNotFound,
    ServiceDown,
    SignInRequired,
    UpstreamError,
)
from aicc.console.keeper import SESSION_PROBLEMS
from aicc.console.navigation import Page
from aicc.console.routing import page_router
from aicc.console.upstream import error_of
from aicc.core.outgoing import build_internal_client

CHUNK = 64 * 1024
ERROR_BODY_LIMIT = 64 * 1024
MEDIA_CLIENT = "recording_media_client"
FORMATS = ("wav", "mp3", "flac", "aac")
REQUEST_HEADERS = ("range", "if-range")
RESPONSE_HEADERS = (
    "content-type",
    "content-length",
    "content-range",
    "accept-ranges",
    "etag",
    "content-disposition",
)


@asynccontextmanager
async def media_client(app: FastAPI) -> AsyncIterator[None]:
    """The streams' own client to the recording service, for the app's lifetime."""
    settings = app.state.aicc_service.settings
    client = build_internal_client(settings, base_url=settings.service_url("recording"))
    setattr(app.state, MEDIA_CLIENT, client)
    try:
        yield
    finally:
        await client.aclose()


router = page_router(lifespan=media_client)
Downloader = Annotated[Visit, Depends(require("recordings:download"))]
RecordingId = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]


class UpstreamStream(StreamingResponse):
    """Streams the service's body; the upstream response is closed however the stream ends
    (finished, the browser went away, an error)."""

    def __init__(self, upstream: httpx2.Response, headers: dict[str, str]) -> None:
        super().__init__(
            upstream.aiter_raw(CHUNK), status_code=upstream.status_code, headers=headers
        )
        self.upstream = upstream

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            body = self.body_iterator
            if isinstance(body, AsyncIterator) and hasattr(body, "aclose"):
                await body.aclose()
            await self.upstream.aclose()


@router.get("/recordings/{recording_id}/audio")
async def audio(visit: Downloader, recording_id: RecordingId) -> Response:
    """The recording as stored, for the page's ``<audio>`` element (seeking: ``Range``)."""
    return await relay(visit, f"/recordings/{recording_id}/download", {}, attachment=False)


@router.get("/recordings/{recording_id}/download")
async def download(
    visit: Downloader,
    recording_id: RecordingId,
    format: Annotated[Literal["", "wav", "mp3", "flac", "aac"], Query()] = "",
) -> Response:
    """The audio as a file in the chosen format (transcoded by the service), or a chat's
    transcript JSON."""
    return await relay(
        visit, f"/recordings/{recording_id}/download", {"format": format}, attachment=True
    )


async def relay(visit: Visit, path: str, params: dict[str, str], *, attachment: bool) -> Response:
    upstream = await _open(visit, path, {k: v for k, v in params.items() if v})
    headers = {
        name: upstream.headers[name] for name in RESPONSE_HEADERS if name in upstream.headers
    }
    disposition = headers.get("content-disposition")
    if disposition is not None:
        kind = "attachment" if attachment else "inline"
        headers["content-disposition"] = kind + disposition[disposition.find(";") :]
    elif attachment and upstream.status_code < 400:
        headers["content-disposition"] = "attachment"
    headers["cache-control"] = "private, no-store"
    return UpstreamStream(upstream, headers)


async def _open(visit: Visit, path: str, params: dict[str, str]) -> httpx2.Response:
    """The service's streamed answer (content, or 416 for a range past the end); a refusal
    becomes the page outcome :class:`aicc.console.proxy.ServiceApi` gives, after refreshing
    the token once if the service refused it as stale (a role change)."""
    client: httpx2.AsyncClient = getattr(visit.request.app.state, MEDIA_CLIENT)
    passed = {name: value for name in REQUEST_HEADERS if (value := visit.request.headers.get(name))}
    for attempt in (1, 2):
        if visit.session is None or visit.session_id is None:
            raise SignInRequired()
        token = visit.session.access_token
        headers = {
            **visit.caller.headers(),
            "Accept": "*/*",
            "Accept-Encoding": "identity",
            "Authorization": f"Bearer {token}",
            **passed,
        }
        request = client.build_request("GET", path, params=params, headers=headers)
        try:
            response = await client.send(request, stream=True)
        except httpx2.HTTPError as exc:
            raise ServiceDown("recording", type(exc).__name__) from None
        status = response.status_code
        if status < 400 or status == 416:
            return response
        refusal = await _detached(response)
        if status >= 500:
            raise ServiceDown("recording", f"HTTP {status}")
        code, message, details = error_of(refusal)
        if status == 401 and attempt == 1 and code in SESSION_PROBLEMS:
            visit.session = await visit.console.keeper.refresh(
                visit.session_id, visit.caller, stale=token
            )
            continue
        if status == 401:
            await visit.end()
            raise SignInRequired(session_ended=True)
        if status == 403:
            raise NotAllowed(message)
        if status == 404:
            raise PageNotFound(message)
        raise UpstreamError("recording", status, code, message, details)
    raise AssertionError("unreachable")


async def _detached(response: httpx2.Response) -> httpx2.Response:
    """A refusal's status, headers and body (small JSON; at most ``ERROR_BODY_LIMIT``),
    the streamed response closed."""
    body = bytearray()
    try:
        async for piece in response.aiter_raw(CHUNK):
            body += piece
            if len(body) > ERROR_BODY_LIMIT:
                break
    finally:
        await response.aclose()
    kind = response.headers.get("content-type", "application/json")
    return httpx2.Response(
        response.status_code, headers={"content-type": kind}, content=bytes(body[:ERROR_BODY_LIMIT])
    )


PAGE = Page(router)
