"""The routing configuration: route tree and inhibit rules, as JSON or alertmanager.yml.

Both forms use alertmanager.yml's keys: ``{"route": {...}, "inhibit_rules": [...]}``, with
``global.resolve_timeout`` read when present. A whole alertmanager.yml is accepted: its
``receivers``, ``templates`` and other sections are ignored, since receivers here are the
service's channels (check the names with ``check_receivers``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import yaml

from aicc.monitoring.alertmanager.alerts import DEFAULT_RESOLVE_TIMEOUT, Alert
from aicc.monitoring.alertmanager.durations import format_duration, parse_duration
from aicc.monitoring.alertmanager.errors import invalid
from aicc.monitoring.alertmanager.inhibit import Inhibitor, InhibitRule
from aicc.monitoring.alertmanager.labels import Labels
from aicc.monitoring.alertmanager.routes import (
    DEFAULT_GROUP_INTERVAL,
    DEFAULT_GROUP_WAIT,
    DEFAULT_REPEAT_INTERVAL,
    Route,
    RouteConfig,
    RouteMatch,
    build_tree,
    match_routes,
)

_IGNORED_SECTIONS = {"receivers", "templates", "time_intervals", "mute_time_intervals", "tracing"}


@dataclass(frozen=True)
class RoutingConfig:
    route: RouteConfig
    inhibit_rules: tuple[InhibitRule, ...] = ()
    resolve_timeout: float = DEFAULT_RESOLVE_TIMEOUT

    @classmethod
    def default(cls) -> RoutingConfig:
        """What applies before anyone configures routing: Alertmanager's timings, grouped by
        ``alertname``, and no receiver at the root, so alerts go only to the channels of the
        rules that raised them (``match(..., extra_receivers=rule.channels)``)."""
        return cls(
            RouteConfig(
                group_by=("alertname",),
                group_wait=DEFAULT_GROUP_WAIT,
                group_interval=DEFAULT_GROUP_INTERVAL,
                repeat_interval=DEFAULT_REPEAT_INTERVAL,
            )
        )

    @classmethod
    def from_json(cls, obj: object) -> RoutingConfig:
        """From a dict with ``route`` (required), ``inhibit_rules`` and ``global``. Invalid
        input is a 422 with a ``code`` and ``details[0].loc`` naming the field."""
        if not isinstance(obj, Mapping):
            raise invalid("invalid_routing", "the routing configuration must be an object")
        for key in obj:
            if key not in {"route", "inhibit_rules", "global"} | _IGNORED_SECTIONS:
                raise invalid("unknown_field", f"unknown field {key!r}", [key])
        if "route" not in obj:
            raise invalid("invalid_routing", "route is required", ["route"])
        rules = obj.get("inhibit_rules") or []
        if not isinstance(rules, list):
            raise invalid("invalid_routing", "must be a list", ["inhibit_rules"])
        resolve_timeout = DEFAULT_RESOLVE_TIMEOUT
        settings = obj.get("global") or {}
        if not isinstance(settings, Mapping):
            raise invalid("invalid_routing", "must be an object", ["global"])
        if settings.get("resolve_timeout") is not None:
            where = ["global", "resolve_timeout"]
            resolve_timeout = parse_duration(settings["resolve_timeout"], where)
            if resolve_timeout == 0:
                raise invalid("invalid_duration", "resolve_timeout cannot be zero", where)
        return cls(
            route=RouteConfig.from_config(obj["route"]),
            inhibit_rules=tuple(
                InhibitRule.from_config(rule, ["inhibit_rules", i]) for i, rule in enumerate(rules)
            ),
            resolve_timeout=resolve_timeout,
        )

    @classmethod
    def from_yaml(cls, text: str | bytes) -> RoutingConfig:
        """From alertmanager.yml text (its ``route:`` and ``inhibit_rules:`` sections)."""
        try:
            obj = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise invalid("invalid_yaml", f"not valid YAML: {exc}") from None
        return cls.from_json(obj)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.resolve_timeout != DEFAULT_RESOLVE_TIMEOUT:
            out["global"] = {"resolve_timeout": format_duration(self.resolve_timeout)}
        out["route"] = self.route.to_config()
        out["inhibit_rules"] = [rule.to_config() for rule in self.inhibit_rules]
        return out

    def to_yaml(self) -> str:
        data = self.to_json()
        if not data["inhibit_rules"]:
            del data["inhibit_rules"]
        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True)

    @cached_property
    def tree(self) -> Route:
        """The route tree with settings inherited, built once per configuration."""
        return build_tree(self.route)

    def match(self, labels: Labels, extra_receivers: Iterable[str] = ()) -> list[RouteMatch]:
        """The groups an alert joins; ``extra_receivers`` are its rule's ``channels``."""
        return match_routes(self.tree, labels, extra_receivers)

    def receivers(self) -> set[str]:
        return self.route.receivers()

    def check_receivers(self, known: Collection[str]) -> None:
        """422 ``unknown_receiver`` if a route names a receiver that is not in ``known``."""
        missing = sorted(self.receivers() - set(known))
        if missing:
            raise invalid(
                "unknown_receiver",
                f"undefined receiver {missing[0]!r} used in route (known: {sorted(known)})",
                ["route"],
            )

    def inhibitor(self, alerts: Iterable[Alert], now: float) -> Inhibitor:
        return Inhibitor(self.inhibit_rules, alerts, now)
