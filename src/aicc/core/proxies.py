"""The client's address and scheme when requests arrive through trusted load balancers.

Only a peer inside one of the trusted networks is believed. From such a peer,
``X-Forwarded-For`` is read right to left, skipping trusted hops: the first untrusted address
is the client; when every hop is trusted, the leftmost one is. ``X-Forwarded-Proto`` (its
last value) sets the scheme. A malformed value leaves the connection's address and scheme.
From any other peer both headers are ignored, so a client cannot choose its own address.
"""

from __future__ import annotations

import functools
import ipaddress
from collections.abc import Iterable

from starlette.types import Scope

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_SECURE = {"https": True, "wss": True, "http": False, "ws": False}
_SCHEMES = {
    "http": {True: "https", False: "http"},
    "websocket": {True: "wss", False: "ws"},
}


class TrustedProxies:
    def __init__(self, cidrs: Iterable[str]) -> None:
        self.networks = tuple(ipaddress.ip_network(cidr, strict=False) for cidr in cidrs)
        self._peer_is_trusted = functools.lru_cache(maxsize=4096)(self._host_is_trusted)

    def __bool__(self) -> bool:
        return bool(self.networks)

    def apply(self, scope: Scope) -> None:
        """Rewrite ``scope["client"]`` and ``scope["scheme"]`` of an HTTP or WebSocket scope
        from the forwarding headers, when the connection comes from a trusted proxy."""
        peer = scope.get("client")
        if not peer or not self._peer_is_trusted(peer[0]):
            return
        forwarded_for: list[bytes] = []
        forwarded_proto: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"x-forwarded-for":
                forwarded_for.append(value)
            elif name == b"x-forwarded-proto":
                forwarded_proto = value
        if forwarded_for:
            client = self.client_address(b",".join(forwarded_for).decode("latin-1"))
            if client is not None:
                scope["client"] = (client, 0)
        if forwarded_proto is not None:
            scheme = _forwarded_scheme(scope["type"], forwarded_proto)
            if scheme is not None:
                scope["scheme"] = scheme

    def client_address(self, forwarded_for: str) -> str | None:
        """The client named by an ``X-Forwarded-For`` value, or None when it is malformed."""
        address: IPAddress | None = None
        for hop in reversed(forwarded_for.split(",")):
            address = _parse_hop(hop)
            if address is None:
                return None
            if not self.trusts(address):
                return str(address)
        return str(address) if address is not None else None

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)

    def _host_is_trusted(self, host: str) -> bool:
        address = _parse_address(host)
        return address is not None and self.trusts(address)


def _parse_hop(hop: str) -> IPAddress | None:
    """One ``X-Forwarded-For`` entry: an address, optionally ``a.b.c.d:port`` or ``[v6]:port``."""
    hop = hop.strip()
    if hop.startswith("["):
        end = hop.find("]")
        tail = hop[end + 1 :] if end > 0 else "?"
        if tail and not (tail.startswith(":") and tail[1:].isdigit()):
            return None
        hop = hop[1:end]
    elif hop.count(":") == 1:
        hop, port = hop.split(":")
        if not port.isdigit():
            return None
    return _parse_address(hop)


def _parse_address(text: str) -> IPAddress | None:
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _forwarded_scheme(scope_type: str, value: bytes) -> str | None:
    last = value.decode("latin-1").rsplit(",", 1)[-1].strip().lower()
    secure = _SECURE.get(last)
    schemes = _SCHEMES.get(scope_type)
    if secure is None or schemes is None:
        return None
    return schemes[secure]
