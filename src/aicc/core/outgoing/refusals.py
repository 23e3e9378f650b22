"""The two ways a refused destination surfaces: at request time and at submission time."""

from __future__ import annotations

from typing import ClassVar

import httpx2

from aicc.core.errors import ValidationFailed
from aicc.core.outgoing.addresses import BlockReason

_DESCRIPTIONS = {
    BlockReason.SCHEME_NOT_ALLOWED: "the URL scheme must be http or https",
    BlockReason.INVALID_HOST: "the URL has no valid host name",
    BlockReason.UNRESOLVABLE_HOST: "the URL's host name could not be resolved",
    BlockReason.CLOUD_METADATA: "the URL points to a cloud metadata address",
    BlockReason.LINK_LOCAL: "the URL points to a link-local address",
    BlockReason.NON_ROUTABLE: "the URL points to an address that cannot be a destination",
    BlockReason.LOOPBACK: "the URL points to a loopback address, which is not allowed here",
    BlockReason.PRIVATE_NETWORK: (
        "the URL points to a private network address, which is not allowed here"
    ),
}


def describe(reason: BlockReason) -> str:
    """A sentence saying why, safe to show to the user who supplied the URL."""
    return _DESCRIPTIONS[reason]


class BlockedDestination(httpx2.RequestError):
    """An outgoing request refused by the destination guard. Permanent: never retry it.

    A :class:`httpx2.RequestError` (so ``except httpx2.HTTPError`` still sees it) but not a
    :class:`httpx2.TransportError`, so retry loops written for network failures skip it.
    ``reason`` is machine-readable; the message never contains the URL or resolved addresses.
    """

    retryable: ClassVar[bool] = False

    def __init__(self, reason: BlockReason, *, host: str | None = None) -> None:
        super().__init__(f"outgoing request blocked: {describe(reason)}")
        self.reason = reason
        self.host = host


class UrlNotAllowed(ValidationFailed):
    """A user-supplied URL refused when it is submitted (422 ``url_not_allowed``)."""

    code = "url_not_allowed"
    message = "URL not allowed"

    def __init__(self, reason: BlockReason, *, field: str | None = None) -> None:
        detail: dict[str, str] = {"reason": reason.value}
        if field is not None:
            detail["field"] = field
        super().__init__(f"URL not allowed: {describe(reason)}", details=[detail])
        self.reason = reason
