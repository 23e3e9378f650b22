"""One outgoing-HTTP policy for every service.

- :func:`build_internal_client`: our own services and operator-configured endpoints.
- :func:`build_user_url_client`: URLs users supply; guarded against server-side request
  forgery at connection time, on every redirect hop, after DNS resolution.
- :func:`check_user_url`: the same rules applied when a user submits a URL (422
  ``url_not_allowed``).

A refused request raises :class:`BlockedDestination` with a machine-readable ``reason``;
it is permanent, never retry it.
"""

from aicc.core.outgoing.addresses import (
    ALWAYS_REFUSED,
    BlockReason,
    DestinationPolicy,
    IPAddress,
    classify,
    parse_ip_literal,
)
from aicc.core.outgoing.backend import GuardedNetworkBackend, HostResolver, SystemResolver
from aicc.core.outgoing.clients import (
    build_internal_client,
    build_user_url_client,
    outgoing_limits,
    outgoing_timeout,
)
from aicc.core.outgoing.refusals import BlockedDestination, UrlNotAllowed, describe
from aicc.core.outgoing.transport import PoolTransport
from aicc.core.outgoing.validation import check_user_url

__all__ = [
    "ALWAYS_REFUSED",
    "BlockReason",
    "BlockedDestination",
    "DestinationPolicy",
    "GuardedNetworkBackend",
    "HostResolver",
    "IPAddress",
    "PoolTransport",
    "SystemResolver",
    "UrlNotAllowed",
    "build_internal_client",
    "build_user_url_client",
    "check_user_url",
    "classify",
    "describe",
    "outgoing_limits",
    "outgoing_timeout",
    "parse_ip_literal",
]
