"""The least a service in the middle can do: a raw ASGI app that forwards each request to
``UPSTREAM`` with one shared ``httpx2.AsyncClient`` and returns the answer. The integration
benchmark measures what this hop alone adds, as the floor for any service in between.

    UPSTREAM=http://127.0.0.1:9100 uvicorn --app-dir bench/apps forward_proxy:app
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

import httpx2

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

UPSTREAM = os.environ.get("UPSTREAM", "http://127.0.0.1:9100")
state: dict[str, httpx2.AsyncClient] = {}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                state["client"] = httpx2.AsyncClient(base_url=UPSTREAM)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await state["client"].aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    headers = {k.decode(): v.decode() for k, v in scope["headers"] if k == b"authorization"}
    answer = await state["client"].get(scope["path"], headers=headers)
    await send(
        {
            "type": "http.response.start",
            "status": answer.status_code,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(answer.content)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": answer.content})
