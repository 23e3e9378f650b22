"""A network backend that resolves, vets and connects in one step, so a check cannot be
raced: the address that passed the policy is the address the socket connects to."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterable, Sequence
from ipaddress import ip_address
from typing import Protocol

import anyio
import httpcore2

from aicc.core.outgoing.addresses import (
    AmbiguousNumericHost,
    BlockReason,
    DestinationPolicy,
    IPAddress,
    parse_ip_literal,
)
from aicc.core.outgoing.asyncio_backend import AsyncioBackend
from aicc.core.outgoing.refusals import BlockedDestination

logger = logging.getLogger(__name__)


class HostResolver(Protocol):
    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        """Every address ``host`` resolves to, in the order to try them; raises ``OSError``."""
        ...


class SystemResolver:
    """The operating system's resolver (``getaddrinfo``), off the event loop."""

    async def resolve(self, host: str, port: int) -> Sequence[IPAddress]:
        answers = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses: list[IPAddress] = []
        for *_, sockaddr in answers:
            address = ip_address(sockaddr[0])
            if address not in addresses:
                addresses.append(address)
        return addresses


class GuardedNetworkBackend(httpcore2.AsyncNetworkBackend):
    """Wraps another backend; every TCP connection goes to an address the policy allows.

    The host is resolved here, every address it resolves to is vetted (one refused address
    refuses the host), and the wrapped backend is handed the vetted IP address, so it does
    no resolution of its own. TLS is started afterwards by httpcore2 on the returned stream
    with the original host name, so SNI and certificate verification are unchanged. Name
    resolution counts against the connect timeout.
    """

    def __init__(
        self,
        policy: DestinationPolicy,
        *,
        inner: httpcore2.AsyncNetworkBackend | None = None,
        resolver: HostResolver | None = None,
    ) -> None:
        self._policy = policy
        self._inner = inner if inner is not None else AsyncioBackend()
        self._resolver = resolver if resolver is not None else SystemResolver()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None = None,
    ) -> httpcore2.AsyncNetworkStream:
        try:
            with anyio.fail_after(timeout):
                addresses = await self.vetted_addresses(host, port)
                return await self._connect_first(
                    addresses, port, timeout, local_address, socket_options
                )
        except TimeoutError:
            raise httpcore2.ConnectTimeout("timed out connecting") from None

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)

    async def vetted_addresses(self, host: str, port: int) -> list[IPAddress]:
        """The addresses ``host`` may be reached at; raises :class:`BlockedDestination`."""
        try:
            return await resolve_and_vet(host, port, self._policy, self._resolver)
        except BlockedDestination as exc:
            logger.warning(
                "outgoing request blocked",
                extra={"metadata": {"reason": exc.reason.value, "host": host}},
            )
            raise
        except OSError:
            raise httpcore2.ConnectError("could not resolve host") from None

    async def _connect_first(
        self,
        addresses: list[IPAddress],
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: Iterable[httpcore2.SOCKET_OPTION] | None,
    ) -> httpcore2.AsyncNetworkStream:
        options = list(socket_options or ())
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    str(address),
                    port,
                    timeout=timeout,
                    local_address=local_address,
                    socket_options=options,
                )
            except httpcore2.ConnectError as exc:
                failure = exc
        raise httpcore2.ConnectError("could not connect") from failure


async def resolve_and_vet(
    host: str, port: int, policy: DestinationPolicy, resolver: HostResolver
) -> list[IPAddress]:
    """Every address ``host`` stands for, all allowed by ``policy``.

    Raises :class:`BlockedDestination` when any of them is refused (or the host is a numeric
    spelling no resolver agrees on) and ``OSError`` when the name does not resolve.
    """
    try:
        literal = parse_ip_literal(host)
    except AmbiguousNumericHost:
        raise BlockedDestination(BlockReason.INVALID_HOST, host=host) from None
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        addresses = list(await resolver.resolve(host, port))
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "no addresses")
    for address in addresses:
        reason = policy.refusal(address)
        if reason is not None:
            raise BlockedDestination(reason, host=host)
    return addresses
