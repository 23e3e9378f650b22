"""What a connector is: the provider's methods, how it authenticates, how it calls, and how
it verifies the provider's webhooks.

A connector holds no state of its own. Everything a call needs arrives in the
:class:`CallContext` the delivery core builds: the integration's decrypted settings, the
guarded HTTP client, the cached OAuth token, the message's idempotency key and the time left.
A connector reports every failure as a :class:`ProviderError` whose ``outcome`` tells the core
what to do next (retry, wait, refresh the token once, ask for re-authorisation, give up).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, ClassVar, Literal, Protocol

import httpx2

from aicc.core.errors import ValidationFailed

Outcome = Literal["retryable", "throttled", "refresh", "reauth", "terminal"]
"""``retryable``: try again later (network, 5xx). ``throttled``: the provider asked us to slow
down (honour ``retry_after``). ``refresh``: the access token was refused; refresh it once and
retry once. ``reauth``: the credentials themselves are refused (``invalid_grant``); a person
must fix them. ``terminal``: retrying cannot help (400, 403, 404)."""


class IntegrationType(StrEnum):
    CRM = "crm"
    ERP = "erp"
    PAYMENT = "payment"
    NOTIFICATION = "notification"
    SOCIAL = "social"
    CUSTOM = "custom"


class ProviderError(Exception):
    """A provider failed or refused a call."""

    def __init__(
        self,
        message: str,
        *,
        code: str,
        outcome: Outcome,
        status: int | None = None,
        retry_after: float | None = None,
        details: Any = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.outcome: Outcome = outcome
        self.status = status
        self.retry_after = retry_after
        self.details = details

    @property
    def retryable(self) -> bool:
        return self.outcome in ("retryable", "throttled")


ParamKind = Literal["string", "integer", "number", "boolean", "object", "array"]
_PY_TYPES: dict[ParamKind, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


@dataclass(frozen=True)
class Param:
    name: str
    kind: ParamKind = "string"
    required: bool = True
    description: str = ""
    choices: tuple[str, ...] | None = None

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not acceptable, or None."""
        allowed = _PY_TYPES[self.kind]
        if isinstance(value, bool) and bool not in allowed:
            return f"must be of type {self.kind}"
        if not isinstance(value, allowed):
            return f"must be of type {self.kind}"
        if isinstance(value, str) and not value.strip():
            return "must not be empty"
        if self.choices is not None and value not in self.choices:
            return "must be one of " + ", ".join(self.choices)
        return None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "type": self.kind, "required": self.required}
        if self.description:
            out["description"] = self.description
        if self.choices:
            out["choices"] = list(self.choices)
        return out


@dataclass(frozen=True)
class Method:
    """One operation of a provider, called with ``payload["method"] == name``."""

    name: str
    params: tuple[Param, ...] = ()
    safe: bool = False
    """Reads only: a SYNC call may be retried once after a failure."""
    description: str = ""
    one_of: tuple[tuple[str, ...], ...] = ()
    """Groups of parameters of which at least one must be given (``phone`` or ``email``)."""

    def arguments(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        """The payload's arguments checked against the parameters (422 naming each bad field);
        unknown fields are refused too, so a typo never goes unnoticed."""
        known = {p.name: p for p in self.params}
        args = {k: v for k, v in payload.items() if k != "method"}
        problems: list[dict[str, Any]] = []
        for name, value in args.items():
            param = known.get(name)
            if param is None:
                problems.append(_problem(name, "is not a parameter of " + self.name))
            elif value is not None and (why := param.check(value)):
                problems.append(_problem(name, why))
        for param in self.params:
            if param.required and args.get(param.name) is None:
                problems.append(_problem(param.name, "is required"))
        for group in self.one_of:
            if all(args.get(name) is None for name in group):
                problems.append(_problem(group[0], "give one of " + ", ".join(group)))
        if problems:
            raise ValidationFailed(
                f"invalid arguments for {self.name}", code="invalid_arguments", details=problems
            )
        return {k: v for k, v in args.items() if v is not None}

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "safe": self.safe,
            "params": [p.describe() for p in self.params],
        }
        if self.description:
            out["description"] = self.description
        if self.one_of:
            out["one_of"] = [list(g) for g in self.one_of]
        return out


def _problem(name: str, message: str) -> dict[str, Any]:
    return {"loc": ["payload", name], "msg": message, "type": "value_error"}


@dataclass(frozen=True)
class Token:
    """An access token; ``expires_at`` (epoch seconds) is None when the provider does not say
    (Salesforce: refresh when it is refused)."""

    access_token: str
    expires_at: float | None = None
    refresh_token: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    """Other fields of the token response a connector needs later (``instance_url``)."""


@dataclass(frozen=True)
class Integration:
    """An integration as a connector sees it: secrets decrypted, options applied."""

    integration_id: str
    name: str
    type: IntegrationType
    provider: str
    endpoint_url: str
    auth_type: str
    auth_config: dict[str, Any]
    options: dict[str, Any] = field(default_factory=dict)

    def setting(self, key: str, default: Any = None) -> Any:
        """An ``auth_config`` value, else an ``options`` value, else ``default``."""
        if key in self.auth_config:
            return self.auth_config[key]
        return self.options.get(key, default)


class CallContext(Protocol):
    """What one call to a provider may use."""

    integration: Integration
    http: httpx2.AsyncClient
    """Guarded against server-side request forgery: every URL here came from a user."""
    message_id: str
    idempotency_key: str
    """Stable across every attempt of one message (payment providers deduplicate on it)."""

    @property
    def timeout(self) -> float:
        """Seconds left before this attempt's deadline."""
        ...

    async def token(self) -> Token:
        """A valid access token: cached (encrypted, shared by replicas) and fetched through
        the connector's :meth:`Connector.fetch_token` once at a time when missing or stale."""
        ...

    async def aws_client(self, service: str) -> Any:
        """An aiobotocore client for ``service`` in the integration's region, at its
        ``endpoint_url`` when one is set (a stand-in, LocalStack, moto)."""
        ...


@dataclass(frozen=True)
class WebhookRequest:
    method: str
    headers: Mapping[str, str]
    """Lower-case names."""
    query: Mapping[str, str]
    body: bytes
    url: str = ""
    """The public URL the provider called, query string included (HubSpot signs it)."""


@dataclass(frozen=True)
class WebhookEvent:
    event_id: str
    """The provider's id for the event: a second delivery of it is stored once."""
    event_type: str
    data: dict[str, Any]


@dataclass(frozen=True)
class WebhookReply:
    """An answer to a provider's verification handshake (``hub.challenge``, X's CRC)."""

    status: int
    body: bytes
    media_type: str = "text/plain"


class WebhookRejected(Exception):
    """The request is not provably from the provider: 401, nothing stored."""


class Connector:
    """A provider's connector; subclasses fill in the class attributes and the calls."""

    provider: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    type: ClassVar[IntegrationType]
    hosts: ClassVar[tuple[str, ...]] = ()
    """Host suffixes of the provider's endpoints, for inferring ``provider``."""
    keywords: ClassVar[tuple[str, ...]] = ()
    """Words in an ``integration_id`` that name the provider (``salesforce``, ``sfdc``)."""
    auth_types: ClassVar[tuple[str, ...]]
    """Accepted ``auth_type`` values; the first is the default."""
    required_config: ClassVar[Mapping[str, tuple[str, ...]]] = {}
    """``auth_config`` keys each auth type needs."""
    secret_keys: ClassVar[frozenset[str]] = frozenset()
    """``auth_config`` keys that are secrets (never returned, never logged)."""
    methods: ClassVar[Mapping[str, Method]]
    health_method: ClassVar[str | None] = None

    def check_config(self, auth_type: str, auth_config: Mapping[str, Any]) -> list[str]:
        """Problems with the settings, one sentence each (empty when fine)."""
        needed = self.required_config.get(auth_type, ())
        return [f"auth_config.{key} is required" for key in needed if not auth_config.get(key)]

    async def call(self, ctx: CallContext, method: str, args: dict[str, Any]) -> Any:
        raise NotImplementedError

    async def health(self, ctx: CallContext) -> dict[str, Any]:
        """A cheap authenticated call that proves the credentials work."""
        raise NotImplementedError

    async def fetch_token(self, ctx: CallContext, current: Token | None) -> Token:  # noqa: ARG002
        """A fresh access token (``current`` may hold a refresh token)."""
        raise ProviderError(
            f"{self.provider} does not use access tokens",
            code="no_token",
            outcome="terminal",
        )

    async def webhook_handshake(
        self,
        ctx: CallContext,  # noqa: ARG002
        request: WebhookRequest,  # noqa: ARG002
    ) -> WebhookReply | None:
        """Answer a provider's ``GET`` verification, or None when it has none."""
        return None

    async def verify_webhook(
        self,
        ctx: CallContext,  # noqa: ARG002
        request: WebhookRequest,  # noqa: ARG002
    ) -> list[WebhookEvent]:
        """The events in a ``POST``, after proving it comes from the provider; raises
        :class:`WebhookRejected` otherwise."""
        raise WebhookRejected(f"{self.provider} sends no webhooks")

    @classmethod
    def describe(cls) -> dict[str, Any]:
        return {
            "provider": cls.provider,
            "aliases": list(cls.aliases),
            "type": cls.type.value,
            "auth_types": list(cls.auth_types),
            "secret_keys": sorted(cls.secret_keys),
            "methods": [m.describe() for m in cls.methods.values()],
        }


def methods(*items: Method) -> dict[str, Method]:
    return {m.name: m for m in items}


def customer(
    id: str, name: str | None, email: str | None, phone: str | None, provider_data: Any
) -> dict[str, Any]:
    """The one shape every CRM answers a customer in."""
    return {"id": id, "name": name, "email": email, "phone": phone, "provider_data": provider_data}
