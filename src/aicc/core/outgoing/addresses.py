"""Which IP addresses an outgoing request to a user-supplied URL may reach.

Every address is first normalised: IPv6 forms that carry an IPv4 address (IPv4-mapped,
IPv4-compatible, IPv4-translated, NAT64, 6to4, Teredo) are judged by that IPv4 address as
well as by their own, and the stricter verdict wins. Host names are never judged here; the
caller resolves them and judges every address they resolve to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aicc.core.config import Settings

IPAddress = IPv4Address | IPv6Address
IPNetwork = IPv4Network | IPv6Network


class BlockReason(StrEnum):
    """Why an outgoing request was refused; safe to show to users and to log."""

    SCHEME_NOT_ALLOWED = "scheme_not_allowed"
    INVALID_HOST = "invalid_host"
    UNRESOLVABLE_HOST = "unresolvable_host"
    CLOUD_METADATA = "cloud_metadata"
    LINK_LOCAL = "link_local"
    NON_ROUTABLE = "non_routable"
    LOOPBACK = "loopback"
    PRIVATE_NETWORK = "private_network"


ALWAYS_REFUSED = frozenset(
    {BlockReason.CLOUD_METADATA, BlockReason.LINK_LOCAL, BlockReason.NON_ROUTABLE}
)
"""Address classes no setting can open."""


def _networks(*cidrs: str) -> tuple[IPNetwork, ...]:
    return tuple(ip_network(cidr) for cidr in cidrs)


# Checked in this order; the first table that contains the address gives its class.
_CLASSES: tuple[tuple[BlockReason, tuple[IPNetwork, ...]], ...] = (
    (
        BlockReason.CLOUD_METADATA,
        _networks(
            "169.254.169.254/32",  # AWS, GCP, Azure, OCI instance metadata
            "169.254.170.2/32",  # ECS task metadata and credentials
            "169.254.170.23/32",  # EKS Pod Identity agent
            "100.100.100.200/32",  # Alibaba Cloud metadata
            "168.63.129.16/32",  # Azure WireServer
            "fd00:ec2::254/128",  # AWS instance metadata over IPv6
            "fd00:ec2::23/128",  # EKS Pod Identity agent over IPv6
        ),
    ),
    (BlockReason.LINK_LOCAL, _networks("169.254.0.0/16", "fe80::/10")),
    (BlockReason.LOOPBACK, _networks("127.0.0.0/8", "::1/128")),
    (
        BlockReason.NON_ROUTABLE,
        _networks(
            "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host on Linux
            "224.0.0.0/4",  # multicast
            "240.0.0.0/4",  # reserved, including the 255.255.255.255 broadcast
            "::/8",  # unspecified and other reserved forms left after normalisation
            "100::/64",  # discard-only
            "ff00::/8",  # multicast
        ),
    ),
    (
        BlockReason.PRIVATE_NETWORK,
        _networks(
            "10.0.0.0/8",
            "172.16.0.0/12",
            "192.168.0.0/16",
            "100.64.0.0/10",  # carrier-grade NAT, also used inside clouds
            "192.0.0.0/24",  # IETF protocol assignments
            "198.18.0.0/15",  # benchmarking, often used for internal networks
            "fc00::/7",  # unique local
            "fec0::/10",  # deprecated site-local
        ),
    ),
)

_SEVERITY = {
    BlockReason.CLOUD_METADATA: 3,
    BlockReason.LINK_LOCAL: 3,
    BlockReason.NON_ROUTABLE: 3,
    BlockReason.LOOPBACK: 2,
    BlockReason.PRIVATE_NETWORK: 2,
}

_IPV4_COMPATIBLE = ip_network("::/96")
_IPV4_TRANSLATED = ip_network("::ffff:0:0:0/96")
_NAT64_WELL_KNOWN = ip_network("64:ff9b::/96")
_NAT64_LOCAL_USE = ip_network("64:ff9b:1::/48")  # translates into the operator's own network
_CARRY_LOW_32_BITS = (_IPV4_TRANSLATED, _NAT64_WELL_KNOWN, _NAT64_LOCAL_USE)
_TRANSPARENT_CARRIERS = (_IPV4_COMPATIBLE, _IPV4_TRANSLATED, _NAT64_WELL_KNOWN)
_LOW_32_BITS = 0xFFFFFFFF


def embedded_ipv4(address: IPv6Address) -> IPv4Address | None:
    """The IPv4 address an IPv6 address carries, for the forms a network may translate."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    value = int(address)
    if address in _IPV4_COMPATIBLE and value > 1:
        return IPv4Address(value & _LOW_32_BITS)
    if any(address in prefix for prefix in _CARRY_LOW_32_BITS):
        return IPv4Address(value & _LOW_32_BITS)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def classify(address: IPAddress) -> BlockReason | None:
    """The restricted class of ``address``, or None for an ordinary public address."""
    if isinstance(address, IPv6Address):
        address = IPv6Address(int(address))  # drops a zone id such as %eth0
        embedded = embedded_ipv4(address)
        if embedded is not None:
            return _stricter(_lookup(embedded), _lookup_container(address))
    return _lookup(address)


def _lookup(address: IPAddress) -> BlockReason | None:
    for reason, networks in _CLASSES:
        if any(address in network for network in networks):
            return reason
    return None


def _lookup_container(address: IPv6Address) -> BlockReason | None:
    """The class of an IPv6 address that carries IPv4, apart from the address it carries."""
    if address in _NAT64_LOCAL_USE:
        return BlockReason.PRIVATE_NETWORK
    if address.ipv4_mapped is not None or any(address in p for p in _TRANSPARENT_CARRIERS):
        return None
    return _lookup(address)


def _stricter(first: BlockReason | None, second: BlockReason | None) -> BlockReason | None:
    if first is None or second is None:
        return first or second
    return first if _SEVERITY[first] >= _SEVERITY[second] else second


_LEGACY_IPV4_PART = r"(?:0[xX][0-9a-fA-F]*|[0-9]+)"
_LEGACY_IPV4 = re.compile(rf"{_LEGACY_IPV4_PART}(?:\.{_LEGACY_IPV4_PART}){{0,3}}\.?")
_NUMERIC_LABEL = re.compile(_LEGACY_IPV4_PART)


class AmbiguousNumericHost(ValueError):
    """A host that looks like a number but is no valid IPv4 spelling."""


def parse_ip_literal(host: str) -> IPAddress | None:
    """``host`` as an IP address, accepting every IPv4 spelling ``inet_aton`` accepts.

    ``2852039166``, ``0xa9fea9fe``, ``0251.0376.0251.0376`` and ``169.254.43518`` are all
    169.254.169.254 to the C resolver, so they are read the same way here. A host whose last
    label is a number but which is no valid spelling (``1.2.3.4.5``, ``08``, ``host.0x1``)
    raises :class:`AmbiguousNumericHost`: resolvers disagree on such names.
    """
    candidate = host.strip("[]")
    try:
        return ip_address(candidate)
    except ValueError:
        pass
    if _LEGACY_IPV4.fullmatch(candidate):
        value = _legacy_ipv4_value(candidate.rstrip("."))
        if value is not None:
            return IPv4Address(value)
        raise AmbiguousNumericHost(host)
    if _NUMERIC_LABEL.fullmatch(candidate.rstrip(".").rsplit(".", 1)[-1]):
        raise AmbiguousNumericHost(host)
    return None


def _legacy_ipv4_value(text: str) -> int | None:
    numbers: list[int] = []
    for part in text.split("."):
        if part[:2].lower() == "0x":
            number = int(part[2:] or "0", 16)
        elif len(part) > 1 and part.startswith("0"):
            if not part.isdigit() or any(digit in "89" for digit in part):
                return None
            number = int(part, 8)
        else:
            number = int(part)
        numbers.append(number)
    *leading, last = numbers
    if any(number > 0xFF for number in leading) or last >= 1 << (8 * (4 - len(leading))):
        return None
    value = last
    for position, number in enumerate(leading):
        value |= number << (8 * (3 - position))
    return value


@dataclass(frozen=True, slots=True)
class DestinationPolicy:
    """Where requests to user-supplied URLs may go.

    Cloud metadata, link-local and non-routable addresses are always refused. Loopback and
    private networks are refused unless ``allow_private_networks``, which
    :meth:`from_settings` turns on outside production and with
    ``AICC_ALLOW_PRIVATE_NETWORKS=true``.
    """

    allow_private_networks: bool = False

    @classmethod
    def from_settings(cls, settings: Settings) -> DestinationPolicy:
        return cls(
            allow_private_networks=settings.server.env != "production"
            or settings.http.allow_private_networks
        )

    def refusal(self, address: IPAddress) -> BlockReason | None:
        """Why ``address`` may not be reached, or None when it may."""
        reason = classify(address)
        if reason is None or (reason not in ALWAYS_REFUSED and self.allow_private_networks):
            return None
        return reason
