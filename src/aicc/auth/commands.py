"""What ``aicc auth ...`` and ``aicc users ...`` do."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aicc.auth.service import AuthService
from aicc.core.config import Settings


@asynccontextmanager
async def _started(settings: Settings) -> AsyncIterator[AuthService]:
    service = AuthService(settings=settings)
    service.bootstrap_on_start = False
    await service.start()
    try:
        yield service
    finally:
        await service.stop()


async def rotate_keys(settings: Settings) -> dict[str, object]:
    async with _started(settings) as service:
        kid = await service.rotate_signing_key()
        published = [key["kid"] for key in service.jwks["keys"]]
    return {"active_kid": kid, "published_kids": published}


async def create_user(
    settings: Settings, *, username: str, email: str, roles: list[str], password: str | None
) -> dict[str, object]:
    generated = password is None
    password = password or secrets.token_urlsafe(15)
    async with _started(settings) as service:
        user_id = await service.register_user(username, email, password, roles)
        user = await service.get_user(user_id)
    result: dict[str, object] = {
        "user_id": user_id,
        "username": user["username"],
        "roles": user["roles"],
    }
    if generated:
        result["generated_password"] = password
    return result
