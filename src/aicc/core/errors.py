"""Errors that carry their HTTP status and machine-readable code.

    AppError (500, internal_error)
    ├── BadRequest (400, bad_request)
    │   └── ValidationFailed (422, validation_error)
    ├── Unauthorized (401, unauthorized)
    ├── Forbidden (403, forbidden)
    ├── NotFound (404, not_found)
    ├── Conflict (409, conflict)
    ├── PayloadTooLarge (413, payload_too_large)
    ├── TooManyRequests (429, rate_limited)
    └── ServiceUnavailable (503, service_unavailable)

Every non-2xx response body has one shape:
``{"error": {"code": ..., "message": ..., "request_id": ..., "details"?: ...}}``.
"""

from __future__ import annotations

from typing import Any, ClassVar


class AppError(Exception):
    status_code: ClassVar[int] = 500
    code: ClassVar[str] = "internal_error"
    message: str = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        details: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.error_code = code or type(self).code
        self.details = details
        self.headers = headers or {}
        super().__init__(self.message)


class BadRequest(AppError):
    status_code = 400
    code = "bad_request"
    message = "Bad request"


class ValidationFailed(BadRequest):
    status_code = 422
    code = "validation_error"
    message = "Request validation failed"


class Unauthorized(AppError):
    status_code = 401
    code = "unauthorized"
    message = "Authentication required"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("WWW-Authenticate", "Bearer")


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "Not permitted"


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found"


class MethodNotAllowed(AppError):
    status_code = 405
    code = "method_not_allowed"
    message = "Method not allowed"


class Conflict(AppError):
    status_code = 409
    code = "conflict"
    message = "Conflict"


class PayloadTooLarge(AppError):
    status_code = 413
    code = "payload_too_large"
    message = "Request body too large"


class TooManyRequests(AppError):
    status_code = 429
    code = "rate_limited"
    message = "Too many requests"


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "Service temporarily unavailable"


class ConfigError(Exception):
    """Configuration that cannot run; the message names what is wrong and how to fix it."""


def error_body(
    code: str, message: str, request_id: str | None, details: Any = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message, "request_id": request_id}
    if details is not None:
        error["details"] = details
    return {"error": error}
