"""Calling a service for a page, with the signed-in user's token; its refusals become page
outcomes.

- 401 about the token (expired, revoked: a role change, a session ended elsewhere): refresh
  once and retry; if that fails the session is over and the user signs in again.
- 403: the "not allowed" page (or the password-change / MFA enrolment page when the token
  allows only that).
- other 4xx: :class:`UpstreamError` with the service's code and message, for the page to
  show next to its form, or as an error page if the page does not catch it.
- 5xx or no answer: :class:`ServiceDown` (a 503 page naming the service).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import TYPE_CHECKING, Any

import httpx2

from aicc.console.errors import NotAllowed, Redirect, SignInRequired, UpstreamError
from aicc.console.keeper import SESSION_PROBLEMS
from aicc.console.upstream import error_of
from aicc.core.config import ServiceName

if TYPE_CHECKING:
    from aicc.console.dependencies import Visit

_RESTRICTED = {
    "password_change_required": "/account/password",
    "mfa_enrollment_required": "/account/mfa",
}


class ServiceApi:
    def __init__(self, visit: Visit) -> None:
        self.visit = visit

    async def request(
        self,
        service: ServiceName,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: dict[str, Any] | None = None,
        passthrough: Collection[int] = (),
    ) -> httpx2.Response:
        """``passthrough``: 5xx statuses raised as :class:`UpstreamError` (with the service's
        code and details) instead of :class:`ServiceDown`."""
        visit = self.visit
        console = visit.console
        if visit.session is None or visit.session_id is None:
            raise SignInRequired()
        token = visit.session.access_token
        response = await console.upstreams.send(
            service,
            method,
            path,
            caller=visit.caller,
            token=token,
            json=json,
            params=params,
            passthrough=passthrough,
        )
        if response.status_code == 401 and error_of(response)[0] in SESSION_PROBLEMS:
            visit.session = await console.keeper.refresh(
                visit.session_id, visit.caller, stale=token
            )
            response = await console.upstreams.send(
                service,
                method,
                path,
                caller=visit.caller,
                token=visit.session.access_token,
                json=json,
                params=params,
                passthrough=passthrough,
            )
            if response.status_code == 401 and error_of(response)[0] in SESSION_PROBLEMS:
                await visit.end()
                raise SignInRequired(session_ended=True)
        if response.status_code < 400:
            return response
        code, message, details = error_of(response)
        if response.status_code == 403:
            if code in _RESTRICTED:
                raise Redirect(_RESTRICTED[code])
            raise NotAllowed(message, code=code)
        raise UpstreamError(service, response.status_code, code, message, details)

    async def get(
        self, service: ServiceName, path: str, params: dict[str, Any] | None = None
    ) -> Any:
        return (await self.request(service, "GET", path, params=params)).json()

    async def post(self, service: ServiceName, path: str, json: Any = None) -> Any:
        return _body(await self.request(service, "POST", path, json=json))

    async def put(self, service: ServiceName, path: str, json: Any = None) -> Any:
        return _body(await self.request(service, "PUT", path, json=json))

    async def patch(self, service: ServiceName, path: str, json: Any = None) -> Any:
        return _body(await self.request(service, "PATCH", path, json=json))

    async def delete(self, service: ServiceName, path: str, json: Any = None) -> Any:
        return _body(await self.request(service, "DELETE", path, json=json))


def _body(response: httpx2.Response) -> Any:
    if response.status_code == 204 or not response.content:
        return None
    try:
        return response.json()
    except ValueError:
        return response.text
