"""Inhibition as Alertmanager's ``inhibit/inhibit.go``.

An alert matching a rule's target matchers is muted while an alert matching its source
matchers is firing (not resolved at ``now``) with the same values for every ``equal`` label
(a label both lack counts as equal). When the target also matches the source side, source
alerts that match the target side are disregarded, so an alert never inhibits itself.
Source alerts count whether or not they are themselves silenced or inhibited.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from aicc.monitoring.alertmanager.alerts import Alert
from aicc.monitoring.alertmanager.errors import Loc, invalid
from aicc.monitoring.alertmanager.labels import Labels
from aicc.monitoring.alertmanager.matchers import (
    Matcher,
    matchers_from_maps,
    matches_all,
    parse_matcher_list,
    sort_matchers,
)

_KEYS = {
    "name",
    "source_matchers",
    "target_matchers",
    "source_match",
    "source_match_re",
    "target_match",
    "target_match_re",
    "equal",
}


@dataclass(frozen=True, slots=True)
class InhibitRule:
    source_matchers: tuple[Matcher, ...]
    target_matchers: tuple[Matcher, ...]
    equal: tuple[str, ...] = ()
    name: str = ""

    def to_config(self) -> dict[str, Any]:
        """The alertmanager.yml form (``source_matchers`` / ``target_matchers`` strings)."""
        out: dict[str, Any] = {}
        if self.name:
            out["name"] = self.name
        out["source_matchers"] = [str(m) for m in self.source_matchers]
        out["target_matchers"] = [str(m) for m in self.target_matchers]
        if self.equal:
            out["equal"] = list(self.equal)
        return out

    @classmethod
    def from_config(cls, obj: object, loc: Loc = ()) -> InhibitRule:
        """From the alertmanager.yml form; the deprecated ``source_match(_re)`` and
        ``target_match(_re)`` maps are folded into the matcher lists."""
        if not isinstance(obj, Mapping):
            raise invalid("invalid_inhibit_rule", "an inhibit rule must be an object", loc)
        for key in obj:
            if key not in _KEYS:
                raise invalid("unknown_field", f"unknown field {key!r}", [*loc, key])
        name = obj.get("name") or ""
        if not isinstance(name, str):
            raise invalid("invalid_inhibit_rule", "must be a string", [*loc, "name"])
        sides = []
        for side in ("source", "target"):
            matchers = matchers_from_maps(
                obj.get(f"{side}_match"), obj.get(f"{side}_match_re"), loc, f"{side}_"
            )
            matchers += parse_matcher_list(obj.get(f"{side}_matchers"), [*loc, f"{side}_matchers"])
            sides.append(sort_matchers(matchers))
        equal = obj.get("equal") or []
        if not isinstance(equal, list) or not all(isinstance(n, str) and n for n in equal):
            raise invalid("invalid_inhibit_rule", "must be a list of label names", [*loc, "equal"])
        return cls(sides[0], sides[1], tuple(equal), name)


class Inhibitor:
    """The inhibition state at one instant: built from the rules and every alert the caller
    knows (firing or resolved), then asked about each alert to notify."""

    def __init__(self, rules: Iterable[InhibitRule], alerts: Iterable[Alert], now: float):
        self._rules = list(rules)
        self._sources: list[dict[tuple[str, ...], list[Alert]]] = [{} for _ in self._rules]
        for alert in alerts:
            if alert.resolved_at(now):
                continue
            for rule, index in zip(self._rules, self._sources, strict=True):
                if matches_all(rule.source_matchers, alert.labels):
                    key = tuple(alert.labels.get(n, "") for n in rule.equal)
                    index.setdefault(key, []).append(alert)

    def inhibited_by(self, labels: Labels) -> list[str]:
        """Fingerprint of the source alert that mutes ``labels`` (empty when none does)."""
        for rule, index in zip(self._rules, self._sources, strict=True):
            if not matches_all(rule.target_matchers, labels):
                continue
            two_sided = matches_all(rule.source_matchers, labels)
            for source in index.get(tuple(labels.get(n, "") for n in rule.equal), ()):
                if two_sided and matches_all(rule.target_matchers, source.labels):
                    continue
                return [source.fingerprint]
        return []

    def mutes(self, labels: Labels) -> bool:
        return bool(self.inhibited_by(labels))
