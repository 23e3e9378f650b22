"""The routing tree as Alertmanager's ``dispatch/route.go`` and ``config.Route``.

An alert enters at the root and descends depth-first, left to right: the first child whose
matchers all match takes it, unless that child has ``continue: true``, in which case later
siblings are tried too. A node none of whose children match is itself the match. Every
setting a route leaves out comes from its parent; the root's come from Alertmanager's
defaults (``group_wait`` 30s, ``group_interval`` 5m, ``repeat_interval`` 4h, no
``group_by``: one group per route). ``group_by: ['...']`` groups by all labels.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aicc.monitoring.alertmanager.durations import format_duration, parse_duration
from aicc.monitoring.alertmanager.errors import Loc, invalid
from aicc.monitoring.alertmanager.labels import Labels, labelset_string
from aicc.monitoring.alertmanager.matchers import (
    Matcher,
    matchers_from_maps,
    matchers_string,
    matches_all,
    parse_matcher_list,
    sort_matchers,
)

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0
GROUP_BY_ALL = "..."

_KEYS = {
    "receiver",
    "group_by",
    "matchers",
    "match",
    "match_re",
    "continue",
    "routes",
    "group_wait",
    "group_interval",
    "repeat_interval",
}
_UNSUPPORTED = {"mute_time_intervals", "active_time_intervals", "labels"}


@dataclass(frozen=True, slots=True)
class RouteConfig:
    """One route as configured: ``None`` fields are inherited from the parent."""

    receiver: str | None = None
    group_by: tuple[str, ...] | None = None
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    group_wait: float | None = None
    group_interval: float | None = None
    repeat_interval: float | None = None
    routes: tuple[RouteConfig, ...] = ()

    @classmethod
    def from_config(cls, obj: object, loc: Loc = ("route",), *, root: bool = True) -> RouteConfig:
        """From the alertmanager.yml / JSON form. ``match`` and ``match_re`` are folded into
        ``matchers``, which are kept sorted as Alertmanager does."""
        if not isinstance(obj, Mapping):
            raise invalid("invalid_route", "a route must be an object", loc)
        for key in obj:
            if key in _UNSUPPORTED:
                raise invalid("unsupported_field", f"{key} is not supported", [*loc, key])
            if key not in _KEYS:
                raise invalid("unknown_field", f"unknown field {key!r}", [*loc, key])
        receiver = obj.get("receiver")
        if receiver is not None and (not isinstance(receiver, str) or not receiver):
            raise invalid("invalid_route", "must be a non-empty string", [*loc, "receiver"])
        matchers = matchers_from_maps(obj.get("match"), obj.get("match_re"), loc)
        matchers += parse_matcher_list(obj.get("matchers"), [*loc, "matchers"])
        cont = obj.get("continue", False)
        if not isinstance(cont, bool):
            raise invalid("invalid_route", "must be true or false", [*loc, "continue"])
        if root and matchers:
            raise invalid("invalid_route", "root route must not have any matchers", loc)
        if root and cont:
            raise invalid("invalid_route", "cannot have continue in root route", loc)
        timings: dict[str, float | None] = {}
        for key in ("group_wait", "group_interval", "repeat_interval"):
            value = obj.get(key)
            timings[key] = None if value is None else parse_duration(value, [*loc, key])
            if key != "group_wait" and timings[key] == 0:
                raise invalid("invalid_duration", f"{key} cannot be zero", [*loc, key])
        children = obj.get("routes") or []
        if not isinstance(children, list):
            raise invalid("invalid_route", "must be a list of routes", [*loc, "routes"])
        return cls(
            receiver=receiver,
            group_by=_group_by(obj.get("group_by"), [*loc, "group_by"]),
            matchers=sort_matchers(matchers),
            continue_=cont,
            routes=tuple(
                cls.from_config(child, [*loc, "routes", i], root=False)
                for i, child in enumerate(children)
            ),
            **timings,
        )

    def to_config(self) -> dict[str, Any]:
        """The alertmanager.yml form, with only the fields this route sets."""
        out: dict[str, Any] = {}
        if self.receiver is not None:
            out["receiver"] = self.receiver
        if self.group_by is not None:
            out["group_by"] = list(self.group_by)
        if self.matchers:
            out["matchers"] = [str(m) for m in self.matchers]
        if self.continue_:
            out["continue"] = True
        for key in ("group_wait", "group_interval", "repeat_interval"):
            value = getattr(self, key)
            if value is not None:
                out[key] = format_duration(value)
        if self.routes:
            out["routes"] = [child.to_config() for child in self.routes]
        return out

    def receivers(self) -> set[str]:
        found = {self.receiver} if self.receiver else set()
        for child in self.routes:
            found |= child.receivers()
        return found


def _group_by(value: object, loc: Loc) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(n, str) and n for n in value):
        raise invalid("invalid_route", "must be a list of label names", loc)
    if GROUP_BY_ALL in value and len(value) > 1:
        raise invalid(
            "invalid_route",
            "cannot have wildcard group_by (`...`) and other labels at the same time",
            loc,
        )
    seen: set[str] = set()
    for name in value:
        if name in seen:
            raise invalid("invalid_route", f"duplicated label {name!r} in group_by", loc)
        seen.add(name)
    return tuple(value)


@dataclass(frozen=True, slots=True)
class RouteMatch:
    """Where an alert goes: one aggregation group of one receiver, with its timings."""

    receiver: str
    route_id: str
    """Alertmanager's ``Route.ID()``: unique per route in the tree."""
    group_key: str
    """Alertmanager's group key, ``{}/{severity="critical"}:{alertname="X"}``: what the
    webhook payload carries as ``groupKey`` and PagerDuty's dedup key is derived from."""
    group_labels: Mapping[str, str]
    group_wait: float
    group_interval: float
    repeat_interval: float

    @property
    def group_id(self) -> str:
        """A short stable key for storing this group's state (receiver, route and group)."""
        raw = "\x00".join((self.receiver, self.route_id, self.group_key))
        return hashlib.sha256(raw.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True, eq=False)
class Route:
    """A route with its settings resolved against its parents."""

    receiver: str | None
    group_by: frozenset[str]
    group_by_all: bool
    group_wait: float
    group_interval: float
    repeat_interval: float
    matchers: tuple[Matcher, ...]
    continue_: bool
    key: str
    id: str
    routes: tuple[Route, ...] = field(default=())

    def match(self, labels: Labels) -> list[Route]:
        """``Route.Match``: the matching routes, depth-first, left to right."""
        if not matches_all(self.matchers, labels):
            return []
        found: list[Route] = []
        for child in self.routes:
            matched = child.match(labels)
            found.extend(matched)
            if matched and not child.continue_:
                break
        return found or [self]

    def group_labels(self, labels: Labels) -> dict[str, str]:
        if self.group_by_all:
            return dict(labels)
        return {k: v for k, v in labels.items() if k in self.group_by}

    def route_match(self, labels: Labels, receiver: str) -> RouteMatch:
        group = self.group_labels(labels)
        return RouteMatch(
            receiver=receiver,
            route_id=self.id,
            group_key=f"{self.key}:{labelset_string(group)}",
            group_labels=group,
            group_wait=self.group_wait,
            group_interval=self.group_interval,
            repeat_interval=self.repeat_interval,
        )


def build_tree(config: RouteConfig) -> Route:
    """Resolve inheritance: every node gets its parent's settings where it sets none."""
    return _build(config, None, "")


def _build(config: RouteConfig, parent: Route | None, index: str) -> Route:
    if config.group_by is not None:
        group_by_all = GROUP_BY_ALL in config.group_by
        group_by = frozenset(() if group_by_all else config.group_by)
    elif parent is not None:
        group_by, group_by_all = parent.group_by, parent.group_by_all
    else:
        group_by, group_by_all = frozenset(), False
    own = matchers_string(config.matchers)
    key = own if parent is None else f"{parent.key}/{own}"
    route_id = own if parent is None else f"{parent.id}/{own}/{index}"

    def inherited(value: float | None, name: str, default: float) -> float:
        if value is not None:
            return value
        return default if parent is None else float(getattr(parent, name))

    node = Route(
        receiver=config.receiver or (parent.receiver if parent else None),
        group_by=group_by,
        group_by_all=group_by_all,
        group_wait=inherited(config.group_wait, "group_wait", DEFAULT_GROUP_WAIT),
        group_interval=inherited(config.group_interval, "group_interval", DEFAULT_GROUP_INTERVAL),
        repeat_interval=inherited(
            config.repeat_interval, "repeat_interval", DEFAULT_REPEAT_INTERVAL
        ),
        matchers=config.matchers,
        continue_=config.continue_,
        key=key,
        id=route_id,
    )
    children = tuple(_build(child, node, str(i)) for i, child in enumerate(config.routes))
    object.__setattr__(node, "routes", children)
    return node


def match_routes(
    root: Route, labels: Labels, extra_receivers: Sequence[str] | Iterable[str] = ()
) -> list[RouteMatch]:
    """The groups an alert with ``labels`` joins: one per matching route that has a receiver,
    then one per ``extra_receivers`` name (the channels of the rule that raised it) not
    already among them, grouped and timed like the first matching route."""
    routes = root.match(labels)
    matches = [r.route_match(labels, r.receiver) for r in routes if r.receiver]
    taken = {m.receiver for m in matches}
    for receiver in extra_receivers:
        if receiver not in taken:
            taken.add(receiver)
            matches.append(routes[0].route_match(labels, receiver))
    return matches
