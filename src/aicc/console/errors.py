"""What a page can end in besides its own content; each is rendered by ``handlers.py``.

PageError (status, message key)
├── SignInRequired (401: to the sign-in page, back here afterwards)
├── NotAllowed (403: the "not allowed" page)
├── CsrfRefused (403: the form was not sent from this console's page)
├── PageNotFound (404)
├── UpstreamError (a service's 4xx, with its code and message)
└── ServiceDown (503: a service did not answer, or failed)
Redirect (303 to a console path)
"""

from __future__ import annotations

from typing import Any, ClassVar


class PageError(Exception):
    default_status: ClassVar[int] = 500
    message_key: ClassVar[str] = "error.generic"

    def __init__(self, detail: str | None = None, *, status: int | None = None) -> None:
        self.detail = detail
        self.status = status or self.default_status
        super().__init__(detail or self.message_key)


class SignInRequired(PageError):
    default_status = 401
    message_key = "error.sign_in_required"

    def __init__(self, detail: str | None = None, *, session_ended: bool = False) -> None:
        super().__init__(detail)
        self.session_ended = session_ended
        """The server-side session is gone: the browser's cookie is cleared too."""


class NotAllowed(PageError):
    default_status = 403
    message_key = "error.not_allowed"

    def __init__(self, detail: str | None = None, *, code: str | None = None) -> None:
        super().__init__(detail)
        self.code = code
        """The service's error code (``permission_denied``; ``role_not_allowed`` from auth's
        role hierarchy, which a form shows next to itself)."""


class CsrfRefused(PageError):
    default_status = 403
    message_key = "error.csrf"


class PageNotFound(PageError):
    default_status = 404
    message_key = "error.not_found"


class ServiceDown(PageError):
    default_status = 503
    message_key = "error.service_down"

    def __init__(self, service: str, detail: str | None = None) -> None:
        super().__init__(detail)
        self.service = service


class UpstreamError(PageError):
    """A service refused the request (a 4xx other than 401/403 about the session)."""

    message_key = "error.upstream"

    def __init__(
        self, service: str, status: int, code: str, message: str, details: Any = None
    ) -> None:
        super().__init__(message, status=status)
        self.service = service
        self.code = code
        self.message = message
        self.details = details


class Redirect(Exception):
    def __init__(self, location: str) -> None:
        super().__init__(location)
        self.location = location
