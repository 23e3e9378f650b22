"""A Salesforce stand-in for the integration benchmarks: the token endpoint (its answer names
this server as ``instance_url``), a contact read and a task create, answering after
``STANDIN_DELAY_MS`` milliseconds (0: at once). ``GET /count`` tells how many tasks arrived.

    uvicorn --app-dir bench/apps crm_standin:app --port 9100
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]

DELAY = float(os.environ.get("STANDIN_DELAY_MS", "0")) / 1000
CONTACT = {
    "attributes": {"type": "Contact"},
    "Id": "003000000000001AAA",
    "Name": "Ada Lovelace",
    "Email": "ada@example.com",
    "Phone": "+14155550101",
}
tasks = {"count": 0}


async def _reply(send: Send, status: int, body: Any) -> None:
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        more = (await receive()).get("more_body", False)
    path, method = scope["path"], scope["method"]
    if DELAY:
        await asyncio.sleep(DELAY)
    if path == "/services/oauth2/token":
        host = dict(scope["headers"]).get(b"host", b"127.0.0.1").decode()
        await _reply(
            send,
            200,
            {
                "access_token": "bench-token",
                "token_type": "Bearer",
                "instance_url": f"http://{host}",
            },
        )
    elif path.startswith("/services/data/") and "/sobjects/Contact/" in path:
        await _reply(send, 200, CONTACT)
    elif (
        path.startswith("/services/data/") and path.endswith("/sobjects/Task") and method == "POST"
    ):
        tasks["count"] += 1
        await _reply(send, 201, {"id": f"00T{tasks['count']:015d}", "success": True, "errors": []})
    elif path.startswith("/services/data/") and path.endswith("/limits"):
        await _reply(send, 200, {"DailyApiRequests": {"Max": 15000, "Remaining": 14999}})
    elif path == "/count":
        await _reply(send, 200, tasks)
    else:
        await _reply(send, 404, [{"errorCode": "NOT_FOUND", "message": "not found"}])
