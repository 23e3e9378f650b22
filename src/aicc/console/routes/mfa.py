"""TOTP enrolment (required by the role, or chosen) with a QR code drawn on the server, and
turning it off."""

from __future__ import annotations

import io
from typing import Annotated, Any

import segno
from fastapi import Form
from fastapi.responses import RedirectResponse, Response

from aicc.console.dependencies import SignedIn, SignedInAny, Visit
from aicc.console.errors import UpstreamError
from aicc.console.navigation import Page
from aicc.console.rendering import NO_STORE
from aicc.console.routing import page_router
from aicc.console.sessions import SessionData

router = page_router()
MFA_PROBLEMS = {
    "mfa_invalid": "mfa.code_invalid",
    "mfa_not_pending": "mfa.not_pending",
    "mfa_already_enabled": "mfa.already_enabled",
    "mfa_required_by_role": "mfa.required_by_role",
    "invalid_credentials": "password.current_wrong",
    "validation_error": "mfa.code_invalid",
}


def _go(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


async def _page(
    visit: Visit,
    *,
    error: str | None = None,
    status: int = 200,
    recovery_codes: list[str] | None = None,
) -> Response:
    user = visit.user
    required = user is not None and user.restriction == "mfa_enroll"
    me: dict[str, Any] = await visit.api.get("auth", "/auth/me")
    session = visit.session
    enrolling = session is not None and session.totp_uri is not None and not me["mfa_enabled"]
    return visit.render(
        "account/mfa.html",
        status=status,
        error=error,
        required=required,
        enabled=bool(me["mfa_enabled"]),
        enrolling=enrolling,
        secret=session.totp_secret if enrolling and session is not None else None,
        recovery_codes=recovery_codes,
        notice=await visit.take_notice(),
        page_title="mfa.title",
    )


@router.get("/account/mfa")
async def mfa_page(visit: SignedInAny) -> Response:
    return await _page(visit)


@router.post("/account/mfa/start")
async def start(visit: SignedInAny) -> Response:
    try:
        started: dict[str, str] = await visit.api.post("auth", "/auth/mfa/totp")
    except UpstreamError as exc:
        return await _page(visit, error=_problem(visit, exc), status=exc.status)

    def keep(data: SessionData) -> None:
        data.totp_uri = started["otpauth_uri"]
        data.totp_secret = started["secret"]

    await visit.update(keep)
    return _go("/account/mfa")


@router.get("/account/mfa/qr.svg")
async def qr_code(visit: SignedInAny) -> Response:
    """The pending secret's ``otpauth://`` URI as a QR code (SVG, no script or style)."""
    uri = visit.session.totp_uri if visit.session is not None else None
    if uri is None:
        return Response(status_code=404, headers=NO_STORE)
    out = io.BytesIO()
    segno.make(uri, error="m").save(
        out, kind="svg", scale=5, border=4, dark="#111", light="#fff", xmldecl=False, nl=False
    )
    return Response(out.getvalue(), media_type="image/svg+xml", headers=NO_STORE)


@router.post("/account/mfa/confirm")
async def confirm(visit: SignedInAny, code: Annotated[str, Form(max_length=16)] = "") -> Response:
    code = code.replace(" ", "").strip()
    if not code:
        return await _page(visit, error=visit.t("mfa.code_missing"), status=422)
    try:
        confirmed: dict[str, Any] = await visit.api.post(
            "auth", "/auth/mfa/totp/confirm", {"code": code}
        )
    except UpstreamError as exc:
        return await _page(visit, error=_problem(visit, exc), status=exc.status)

    def done(data: SessionData) -> None:
        data.totp_uri = data.totp_secret = None

    await visit.update(done)
    # Enrolment ends the access tokens issued before it; the refreshed one has full access
    # when the role required MFA.
    assert visit.session_id is not None
    visit.session = await visit.console.keeper.refresh(
        visit.session_id, visit.caller, stale=visit.session.access_token if visit.session else None
    )
    return await _page(visit, recovery_codes=list(confirmed["recovery_codes"]))


@router.post("/account/mfa/disable")
async def disable(
    visit: SignedIn, password: Annotated[str, Form(max_length=1024)] = ""
) -> Response:
    if not password:
        return await _page(visit, error=visit.t("password.missing"), status=422)
    try:
        await visit.api.delete("auth", "/auth/mfa/totp", {"password": password})
    except UpstreamError as exc:
        return await _page(visit, error=_problem(visit, exc), status=exc.status)
    await visit.leave_notice("mfa.disabled")
    return _go("/account/mfa")


def _problem(visit: Visit, exc: UpstreamError) -> str:
    return visit.t(MFA_PROBLEMS.get(exc.code, "mfa.failed"))


PAGE = Page(router)
