"""Alerts as Alertmanager holds them, and its rules for alerts pushed again and again.

``POST /api/v2/alerts`` semantics (``api/v2/api.go``, ``provider/mem``, ``alert.Merge``):
a missing ``startsAt`` is now (or ``endsAt`` when only that is given); a missing ``endsAt``
is now + ``resolve_timeout`` (5 minutes), marked as a timeout; empty labels are dropped; an
alert whose ``endsAt`` is not after now is resolved. An alert with the fingerprint of a
stored one whose active range overlaps is merged: the earliest ``startsAt`` is kept, and an
explicit end outranks a timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from aicc.core.errors import ValidationFailed
from aicc.monitoring.alertmanager.errors import Loc, invalid
from aicc.monitoring.alertmanager.labels import fingerprint
from aicc.monitoring.alertmanager.times import format_time, parse_optional_time

DEFAULT_RESOLVE_TIMEOUT = 300.0
"""``global.resolve_timeout``: how long an alert pushed without ``endsAt`` stays firing."""

_INF = float("inf")


@dataclass(frozen=True, slots=True)
class Alert:
    """One alert. Times are Unix seconds; ``ends_at`` ``None`` means no end is known (the
    alert fires until an update says otherwise)."""

    labels: Mapping[str, str]
    annotations: Mapping[str, str] = field(default_factory=dict)
    starts_at: float = 0.0
    ends_at: float | None = None
    generator_url: str = ""
    updated_at: float = 0.0
    timeout: bool = False
    """``ends_at`` came from ``resolve_timeout``, not from the sender."""
    fingerprint: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", dict(self.labels))
        object.__setattr__(self, "annotations", dict(self.annotations))
        object.__setattr__(self, "fingerprint", fingerprint(self.labels))

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "")

    def resolved_at(self, now: float) -> bool:
        """``Alert.ResolvedAt``: an end is set and is not after ``now``."""
        return self.ends_at is not None and self.ends_at <= now

    def status(self, now: float) -> str:
        return "resolved" if self.resolved_at(now) else "firing"

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "generator_url": self.generator_url,
            "updated_at": self.updated_at,
            "timeout": self.timeout,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alert:
        return cls(
            labels=data["labels"],
            annotations=data.get("annotations", {}),
            starts_at=data["starts_at"],
            ends_at=data.get("ends_at"),
            generator_url=data.get("generator_url", ""),
            updated_at=data.get("updated_at", 0.0),
            timeout=data.get("timeout", False),
        )

    def to_api(
        self,
        *,
        receivers: Iterable[str] = (),
        silenced_by: Iterable[str] = (),
        inhibited_by: Iterable[str] = (),
    ) -> dict[str, Any]:
        """API v2 ``gettableAlert``; ``state`` is ``suppressed`` when silenced or inhibited."""
        silenced, inhibited = list(silenced_by), list(inhibited_by)
        return {
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "startsAt": format_time(self.starts_at),
            "endsAt": format_time(self.ends_at),
            "updatedAt": format_time(self.updated_at),
            "generatorURL": self.generator_url,
            "fingerprint": self.fingerprint,
            "receivers": [{"name": r} for r in receivers],
            "status": {
                "state": "suppressed" if silenced or inhibited else "active",
                "silencedBy": silenced,
                "inhibitedBy": inhibited,
                "mutedBy": [],
            },
        }


def postable_alerts(
    items: object, now: float, resolve_timeout: float = DEFAULT_RESOLVE_TIMEOUT
) -> tuple[list[Alert], list[dict[str, Any]]]:
    """The alerts of a ``POST /api/v2/alerts`` body, and the problems of the invalid ones.

    As Alertmanager does, valid alerts are kept even when others are invalid: store the
    first list, then answer 400 if the second is not empty.
    """
    if not isinstance(items, Sequence) or isinstance(items, str | bytes):
        raise invalid("invalid_alert", "the body must be a list of alerts")
    alerts: list[Alert] = []
    problems: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        try:
            alerts.append(postable_alert(item, now, resolve_timeout, loc=[i]))
        except ValidationFailed as exc:
            problems.extend(exc.details)
    return alerts, problems


def postable_alert(
    item: object, now: float, resolve_timeout: float = DEFAULT_RESOLVE_TIMEOUT, loc: Loc = ()
) -> Alert:
    """One ``postableAlert`` with Alertmanager's defaults applied (see the module text)."""
    if not isinstance(item, Mapping):
        raise invalid("invalid_alert", "an alert must be an object", loc)
    labels = _label_set(item.get("labels"), [*loc, "labels"], required=True)
    annotations = _label_set(item.get("annotations"), [*loc, "annotations"], required=False)
    starts_at = parse_optional_time(item.get("startsAt"), [*loc, "startsAt"])
    ends_at = parse_optional_time(item.get("endsAt"), [*loc, "endsAt"])
    generator_url = item.get("generatorURL") or ""
    if not isinstance(generator_url, str):
        raise invalid("invalid_alert", "must be a string", [*loc, "generatorURL"])
    if starts_at is None:
        starts_at = now if ends_at is None else ends_at
    timeout = ends_at is None
    if ends_at is None:
        ends_at = now + resolve_timeout
    labels = {k: v for k, v in labels.items() if v != ""}
    if not labels:
        raise invalid("invalid_alert", "at least one label pair required", [*loc, "labels"])
    if ends_at < starts_at:
        raise invalid("invalid_alert", "start time must be before end time", [*loc, "endsAt"])
    return Alert(
        labels=labels,
        annotations=annotations,
        starts_at=starts_at,
        ends_at=ends_at,
        generator_url=generator_url,
        updated_at=now,
        timeout=timeout,
    )


def _label_set(value: object, loc: Loc, *, required: bool) -> dict[str, str]:
    if value is None and not required:
        return {}
    if not isinstance(value, Mapping):
        raise invalid("invalid_alert", "must be an object of label names to values", loc)
    out: dict[str, str] = {}
    for name, val in value.items():
        if not isinstance(name, str) or not name:
            raise invalid("invalid_alert", f"invalid label name {name!r}", loc)
        if not isinstance(val, str):
            raise invalid("invalid_alert", f"value of {name!r} must be a string", [*loc, name])
        out[name] = val
    return out


def put(existing: Alert | None, incoming: Alert, now: float) -> Alert:
    """What the store holds after ``incoming`` arrives (``provider/mem`` ``Put``): merged
    with ``existing`` (same fingerprint) when their active ranges overlap, else replacing it."""
    if existing is None:
        return incoming
    old_end = _INF if existing.ends_at is None else existing.ends_at
    new_end = _INF if incoming.ends_at is None else incoming.ends_at
    overlaps = existing.starts_at < new_end < old_end or (
        existing.starts_at < incoming.starts_at < old_end
    )
    return merge(existing, incoming, now) if overlaps else incoming


def merge(a: Alert, b: Alert, now: float) -> Alert:
    """``alert.Merge``: the younger alert (by ``updated_at``) wins, with the earliest start;
    if it is resolved, the later end of the two when both are resolved; if it is not, a
    later end of the older one is kept unless that end was only a timeout."""
    old, young = (b, a) if b.updated_at < a.updated_at else (a, b)
    starts_at = min(old.starts_at, young.starts_at)
    ends_at = young.ends_at
    old_end = _INF if old.ends_at is None else old.ends_at
    young_end = _INF if young.ends_at is None else young.ends_at
    if young.resolved_at(now):
        if old.resolved_at(now) and old_end > young_end:
            ends_at = old.ends_at
    elif old_end > young_end and not old.timeout:
        ends_at = old.ends_at
    return replace(young, starts_at=starts_at, ends_at=ends_at)
