"""The console's pages as the navigation lists them: each shown only to users who hold its
permission (the services check it again on every call)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from fastapi import APIRouter

from aicc.console.sessions import SignedInUser


@dataclass(frozen=True)
class NavItem:
    key: str
    """Message key of the label (``nav.overview``)."""
    path: str
    permission: str | None
    """Needed to see the item; None: every signed-in user with full access."""
    order: int = 100


@dataclass(frozen=True)
class Page:
    """A console page module: its routes and, when it has one, its navigation item."""

    router: APIRouter
    nav: NavItem | None = None


class Navigation:
    def __init__(self, items: Iterable[NavItem]) -> None:
        self.items: Sequence[NavItem] = sorted(items, key=lambda item: (item.order, item.path))

    def visible_to(self, user: SignedInUser | None) -> list[NavItem]:
        if user is None or user.restriction is not None:
            return []
        return [
            item
            for item in self.items
            if item.permission is None or item.permission in user.permissions
        ]

    def current(self, path: str) -> NavItem | None:
        """The item a path belongs to (the longest matching prefix)."""
        best: NavItem | None = None
        for item in self.items:
            matches = path == item.path or (
                item.path != "/" and path.startswith(item.path.rstrip("/") + "/")
            )
            if matches and (best is None or len(item.path) > len(best.path)):
                best = item
        return best
