"""Silences with Alertmanager's API v2 shape and rules (``silence/silence.go``).

A silence mutes the alerts all its matchers match while it is active (``startsAt`` <= now <
``endsAt``). Saving a silence with an ``id`` updates it in place when only what Alertmanager
allows changed (same matchers; an active one keeps its start and does not end in the past; a
pending one does not start in the past); otherwise the old one is expired and a new one with
a new id replaces it. Expiring sets ``endsAt`` to now (both times, if it had not started);
expired silences stay listed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

from aicc.core.errors import NotFound
from aicc.monitoring.alertmanager.errors import invalid
from aicc.monitoring.alertmanager.labels import Labels
from aicc.monitoring.alertmanager.matchers import Matcher, matches_all
from aicc.monitoring.alertmanager.times import format_time, parse_time


class SilenceState(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"
    EXPIRED = "expired"


@dataclass(frozen=True, slots=True)
class SilenceSpec:
    """A validated ``postableSilence``: what a client asked for, before it is saved."""

    id: str | None
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    def state(self, now: float) -> SilenceState:
        if now < self.starts_at:
            return SilenceState.PENDING
        if now >= self.ends_at:
            return SilenceState.EXPIRED
        return SilenceState.ACTIVE

    def matches(self, labels: Labels) -> bool:
        return matches_all(self.matchers, labels)

    def to_api(self, now: float) -> dict[str, Any]:
        """API v2 ``gettableSilence``."""
        return {
            "id": self.id,
            "status": {"state": self.state(now).value},
            "updatedAt": format_time(self.updated_at),
            "matchers": [m.to_api() for m in self.matchers],
            "startsAt": format_time(self.starts_at),
            "endsAt": format_time(self.ends_at),
            "createdBy": self.created_by,
            "comment": self.comment,
        }

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "matchers": [m.to_api() for m in self.matchers],
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "created_by": self.created_by,
            "comment": self.comment,
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Silence:
        return cls(
            id=data["id"],
            matchers=tuple(Matcher.from_api(m) for m in data["matchers"]),
            starts_at=data["starts_at"],
            ends_at=data["ends_at"],
            created_by=data["created_by"],
            comment=data["comment"],
            updated_at=data["updated_at"],
        )


def parse_silence(body: object, now: float) -> SilenceSpec:
    """Validate a ``POST /api/v2/silences`` body: at least one matcher, not all of which
    match the empty string; ``startsAt`` before ``endsAt``; ``endsAt`` not in the past;
    ``createdBy`` and ``comment`` present. Errors are 422 ``invalid_silence`` (or
    ``invalid_matcher`` / ``invalid_regex`` / ``invalid_time``) naming the field."""
    if not isinstance(body, Mapping):
        raise invalid("invalid_silence", "the body must be an object")
    unknown = set(body) - {"id", "matchers", "startsAt", "endsAt", "createdBy", "comment"}
    if unknown:
        name = sorted(unknown)[0]
        raise invalid("invalid_silence", f"unknown field {name!r}", [name])
    silence_id = body.get("id")
    if silence_id is not None and not isinstance(silence_id, str):
        raise invalid("invalid_silence", "must be a string", ["id"])
    raw = body.get("matchers")
    if not isinstance(raw, Sequence) or isinstance(raw, str) or not raw:
        raise invalid("invalid_silence", "at least one matcher is required", ["matchers"])
    matchers = tuple(Matcher.from_api(m, ["matchers", i]) for i, m in enumerate(raw))
    if all(m.matches_empty() for m in matchers):
        raise invalid(
            "invalid_silence",
            "at least one matcher must not match the empty string",
            ["matchers"],
        )
    for key in ("startsAt", "endsAt", "createdBy", "comment"):
        if key not in body:
            raise invalid("invalid_silence", f"{key} is required", [key])
    starts_at = parse_time(body["startsAt"], ["startsAt"])
    ends_at = parse_time(body["endsAt"], ["endsAt"])
    for key in ("createdBy", "comment"):
        if not isinstance(body[key], str):
            raise invalid("invalid_silence", "must be a string", [key])
    if starts_at >= ends_at:
        raise invalid("invalid_silence", "start time must be before end time", ["endsAt"])
    if ends_at < now:
        raise invalid("invalid_silence", "end time can't be in the past", ["endsAt"])
    return SilenceSpec(
        id=silence_id or None,
        matchers=matchers,
        starts_at=starts_at,
        ends_at=ends_at,
        created_by=body["createdBy"],
        comment=body["comment"],
    )


def save_silence(
    spec: SilenceSpec, now: float, *, previous: Silence | None = None, new_id: str | None = None
) -> list[Silence]:
    """The silences to store for ``spec`` (``Silences.Set``). The first is the one to answer
    with (``{"silenceID": ...}``); a second, when present, is ``previous`` expired because it
    could not be updated in place. ``previous`` is the stored silence with ``spec.id``: a
    ``spec.id`` without one is a 404."""
    if spec.id is not None and previous is None:
        raise NotFound(f"silence {spec.id} not found", code="silence_not_found")
    if previous is not None and previous.id != spec.id:
        raise ValueError("previous must be the silence named by spec.id")
    if previous is not None and _can_update(previous, spec, now):
        return [
            replace(
                previous,
                starts_at=spec.starts_at,
                ends_at=spec.ends_at,
                created_by=spec.created_by,
                comment=spec.comment,
                updated_at=now,
            )
        ]
    created = Silence(
        id=new_id or str(uuid.uuid4()),
        matchers=spec.matchers,
        starts_at=max(spec.starts_at, now),
        ends_at=spec.ends_at,
        created_by=spec.created_by,
        comment=spec.comment,
        updated_at=now,
    )
    if previous is not None and previous.state(now) is not SilenceState.EXPIRED:
        return [created, expire_silence(previous, now)]
    return [created]


def _can_update(previous: Silence, spec: SilenceSpec, now: float) -> bool:
    if previous.matchers != spec.matchers:
        return False
    state = previous.state(now)
    if state is SilenceState.ACTIVE:
        return int(previous.starts_at) == int(spec.starts_at) and spec.ends_at >= now
    if state is SilenceState.PENDING:
        return spec.starts_at >= now
    return False


def expire_silence(silence: Silence, now: float) -> Silence:
    """``DELETE``: an active silence ends now, a pending one starts and ends now; an expired
    one is returned unchanged."""
    state = silence.state(now)
    if state is SilenceState.EXPIRED:
        return silence
    if state is SilenceState.PENDING:
        return replace(silence, starts_at=now, ends_at=now, updated_at=now)
    return replace(silence, ends_at=now, updated_at=now)


def silenced_by(labels: Labels, silences: Iterable[Silence], now: float) -> list[str]:
    """Ids of the active silences that match ``labels`` (pending ones do not mute)."""
    return [s.id for s in silences if s.state(now) is SilenceState.ACTIVE and s.matches(labels)]


def is_muted(labels: Labels, silences: Iterable[Silence], now: float) -> bool:
    return any(s.state(now) is SilenceState.ACTIVE and s.matches(labels) for s in silences)


def sort_silences(silences: Iterable[Silence], now: float) -> list[Silence]:
    """The API's order: active (ending soonest first), pending (starting soonest first),
    expired (ended most recently first)."""

    def key(s: Silence) -> tuple[int, float]:
        state = s.state(now)
        if state is SilenceState.ACTIVE:
            return (1, s.ends_at)
        if state is SilenceState.PENDING:
            return (2, s.starts_at)
        return (3, -s.ends_at)

    return sorted(silences, key=key)


def matches_filter(silence: Silence, filters: Iterable[Matcher]) -> bool:
    """``GET /api/v2/silences?filter=...``: every filter matcher appears verbatim (name,
    type, value) among the silence's matchers."""
    own = {(m.name, m.type, m.value) for m in silence.matchers}
    return all((f.name, f.type, f.value) in own for f in filters)
