"""Roles and the named permissions they grant. Services check permissions, never role names."""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum


class Role(StrEnum):
    SUPER_ADMIN = "SUPER_ADMIN"
    ADMIN = "ADMIN"
    SUPERVISOR = "SUPERVISOR"
    AGENT = "AGENT"
    VIEWER = "VIEWER"


ROLE_RANK: dict[Role, int] = {
    Role.SUPER_ADMIN: 50,
    Role.ADMIN: 40,
    Role.SUPERVISOR: 30,
    Role.AGENT: 20,
    Role.VIEWER: 10,
}

_VIEWER = frozenset({"metrics:read", "recordings:read", "integrations:read"})
_AGENT = _VIEWER | {"recordings:write", "integrations:send"}
_SUPERVISOR = _AGENT | {"recordings:download", "users:read", "alerts:read"}
_ADMIN = _SUPERVISOR | {
    "users:manage",
    "integrations:manage",
    "alerts:manage",
    "audit:read",
    "recordings:delete",
}
_SUPER_ADMIN = _ADMIN | {"system:manage"}

ROLE_PERMISSIONS: dict[Role, frozenset[str]] = {
    Role.VIEWER: _VIEWER,
    Role.AGENT: frozenset(_AGENT),
    Role.SUPERVISOR: frozenset(_SUPERVISOR),
    Role.ADMIN: frozenset(_ADMIN),
    Role.SUPER_ADMIN: frozenset(_SUPER_ADMIN),
}
ALL_PERMISSIONS: frozenset[str] = ROLE_PERMISSIONS[Role.SUPER_ADMIN]


def parse_role(value: str) -> Role:
    """Role names are case-insensitive on input (the spec writes ``agent``)."""
    try:
        return Role(value.strip().upper())
    except ValueError:
        raise ValueError(f"unknown role {value!r}; expected one of {', '.join(Role)}") from None


def permissions_for(roles: Iterable[str]) -> frozenset[str]:
    granted: set[str] = set()
    for name in roles:
        try:
            granted |= ROLE_PERMISSIONS[Role(name)]
        except ValueError:
            continue
    return frozenset(granted)


def highest_rank(roles: Iterable[str]) -> int:
    ranks = [ROLE_RANK[Role(r)] for r in roles if r in Role.__members__]
    return max(ranks, default=0)
