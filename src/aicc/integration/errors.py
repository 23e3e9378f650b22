"""How a provider's failure reaches the caller: always the common error shape, never a 500."""

from __future__ import annotations

from typing import Any

from aicc.core.errors import AppError, Conflict, ServiceUnavailable
from aicc.integration.connectors.base import ProviderError


class ProviderFailed(AppError):
    """The provider answered with an error or could not be reached (502); ``details`` carry
    the provider's own code and message."""

    status_code = 502
    code = "provider_error"
    message = "The provider failed the call"

    @classmethod
    def from_error(cls, error: ProviderError, *, provider: str, message_id: str) -> ProviderFailed:
        details: dict[str, Any] = {
            "provider": provider,
            "provider_code": error.code,
            "provider_message": error.message,
            "provider_status": error.status,
            "outcome": error.outcome,
            "message_id": message_id,
        }
        if error.retry_after is not None:
            details["retry_after"] = error.retry_after
        code = "provider_timeout" if error.code == "timeout" else None
        headers = {}
        if error.retry_after is not None:
            headers["Retry-After"] = str(max(1, round(error.retry_after)))
        return cls(f"{provider}: {error.message}", code=code, details=details, headers=headers)


class NeedsReauth(Conflict):
    """The provider refused the integration's credentials; a person must replace them."""

    code = "needs_reauth"
    message = "The integration's credentials were refused; update its auth_config"


class CircuitOpen(ServiceUnavailable):
    code = "circuit_open"
    message = "The provider failed repeatedly; calls are paused"
