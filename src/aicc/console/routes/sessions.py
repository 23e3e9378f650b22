"""The signed-in user's own sessions at the auth service: list, end one, end the others."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from fastapi.responses import RedirectResponse, Response

from aicc.console.dependencies import SignedIn
from aicc.console.navigation import Page
from aicc.console.rendering import NO_STORE
from aicc.console.routing import page_router
from aicc.console.signin import sign_out

router = page_router()
SessionId = Annotated[str, Path(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


def _go(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


@router.get("/account/sessions")
async def sessions(visit: SignedIn) -> Response:
    found: list[dict[str, Any]] = await visit.api.get("auth", "/auth/sessions")
    found.sort(key=lambda s: str(s.get("last_used_at") or ""), reverse=True)
    found.sort(key=lambda s: not s.get("current"))  # this one first, then the most recent
    return visit.render(
        "account/sessions.html",
        sessions=found,
        notice=await visit.take_notice(),
        page_title="sessions.title",
    )


@router.post("/account/sessions/{session_id}/end")
async def end_one(visit: SignedIn, session_id: SessionId) -> Response:
    user = visit.user
    if user is not None and session_id == user.auth_session_id:
        await sign_out(visit)
        return _go("/login?bye=1")
    await visit.api.delete("auth", f"/auth/sessions/{session_id}")
    await visit.leave_notice("sessions.ended_one")
    return _go("/account/sessions")


@router.post("/account/sessions/end-others")
async def end_others(visit: SignedIn) -> Response:
    await visit.api.delete("auth", "/auth/sessions")
    await visit.leave_notice("sessions.ended_others")
    return _go("/account/sessions")


PAGE = Page(router)
