"""The integration API's types: the spec's ``IntegrationConfig`` and ``IntegrationMessage``
(also the HTTP bodies), delivery options, and the update body."""

from __future__ import annotations

import os
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator

from aicc.integration.connectors.base import IntegrationType

IntegrationId = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}$")
MessageId = Field(min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MessageType(StrEnum):
    SYNC = "sync"
    ASYNC = "async"


def _lower(value: Any) -> Any:
    return value.strip().lower() if isinstance(value, str) else value


class IntegrationOptions(Strict):
    """How messages to one integration are delivered."""

    timeout_seconds: float | None = Field(None, gt=0, le=120)
    """Deadline of a SYNC call (default ``AICC_INTEGRATION_SYNC_TIMEOUT``)."""
    max_attempts: int | None = Field(None, ge=1, le=100)
    """Provider calls an ASYNC message gets before it is dead (default
    ``AICC_INTEGRATION_MAX_ATTEMPTS``)."""
    rate_limit_per_second: float | None = Field(None, gt=0, le=100000)
    """Calls per second to the provider, shared by every replica (None: unlimited)."""
    max_concurrency: int | None = Field(None, ge=1, le=1000)
    """Calls in flight at once, shared by every replica (None: unlimited)."""
    breaker_threshold: int = Field(5, ge=1, le=1000)
    """Consecutive failures that open the circuit breaker."""
    breaker_reset_seconds: float = Field(30.0, ge=1, le=3600)
    """How long the breaker stays open before one probe call is let through."""
    mask_fields: list[str] = Field(default_factory=list, max_length=100)
    """Payload and result fields shown as ``***`` in the message log (besides the defaults)."""


class IntegrationConfig(Strict):
    """An integration as registered (the spec's ``IntegrationConfig``)."""

    integration_id: str = IntegrationId
    name: str = Field(min_length=1, max_length=200)
    type: IntegrationType
    endpoint_url: str = Field(min_length=1, max_length=2000)
    auth_type: str | None = Field(None, min_length=1, max_length=32)
    """Defaults to the provider's usual kind (``oauth2`` for Salesforce)."""
    auth_config: dict[str, Any] = Field(default_factory=dict)
    provider: str | None = Field(None, min_length=1, max_length=32)
    options: IntegrationOptions = Field(default_factory=IntegrationOptions)

    _lower_type = field_validator("type", "auth_type", "provider", mode="before")(_lower)


class IntegrationUpdate(Strict):
    """``PATCH``: fields given replace the stored ones; in ``auth_config`` and ``options`` a
    key set to null is removed, other keys are kept."""

    name: str | None = Field(None, min_length=1, max_length=200)
    endpoint_url: str | None = Field(None, min_length=1, max_length=2000)
    auth_type: str | None = Field(None, min_length=1, max_length=32)
    auth_config: dict[str, Any] | None = None
    options: dict[str, Any] | None = None
    status: Literal["active", "disabled"] | None = None

    _lower_type = field_validator("auth_type", mode="before")(_lower)


class IntegrationMessage(Strict):
    """A message to an integration (the spec's ``IntegrationMessage``)."""

    integration_id: str = IntegrationId
    payload: dict[str, Any]
    message_type: MessageType = MessageType.SYNC
    message_id: str = MessageId
    timeout: float | None = Field(None, gt=0, le=120)

    _lower_type = field_validator("message_type", mode="before")(_lower)
    _generated: bool = PrivateAttr(False)

    def __init__(self, **data: Any) -> None:
        generated = data.get("message_id") is None
        if generated:
            data["message_id"] = os.urandom(16).hex()
        super().__init__(**data)
        self._generated = generated

    @property
    def id_generated(self) -> bool:
        """The service made the id: no earlier send can share it."""
        return self._generated


class MessageRequest(Strict):
    """``POST /integrations/{id}/messages``."""

    message_type: MessageType = MessageType.SYNC
    payload: dict[str, Any]
    message_id: str | None = Field(None, min_length=1, max_length=200, pattern=r"^[\x21-\x7e]+$")
    """Optional; the ``Idempotency-Key`` header means the same."""
    timeout: float | None = Field(None, gt=0, le=120)

    _lower_type = field_validator("message_type", mode="before")(_lower)
