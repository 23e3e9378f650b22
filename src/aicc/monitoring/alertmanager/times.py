"""Timestamps as Alertmanager's JSON writes them (RFC 3339, Go's zero time for "none").

Inside this package a time is a float of Unix seconds, so state stays plain JSON.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from aicc.monitoring.alertmanager.errors import Loc, invalid

ZERO_TIME = "0001-01-01T00:00:00Z"
"""Go's ``time.Time{}``: what Alertmanager sends as ``endsAt`` of a firing alert."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ZERO_SECONDS = (datetime(1, 1, 1, tzinfo=UTC) - _EPOCH).total_seconds()
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def format_time(ts: float | None) -> str:
    """RFC 3339 in UTC with the fraction trimmed as Go's ``RFC3339Nano`` does, to the
    microsecond; ``None`` is Go's zero time."""
    if ts is None:
        return ZERO_TIME
    micros = round(ts * 1_000_000)
    moment = _EPOCH + timedelta(microseconds=micros)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    fraction = f"{moment.microsecond:06d}".rstrip("0")
    return f"{text}.{fraction}Z" if fraction else f"{text}Z"


def parse_time(value: object, loc: Loc = ()) -> float:
    """An RFC 3339 string (any fraction length, ``Z`` or an offset) as Unix seconds."""
    if not isinstance(value, str):
        raise invalid("invalid_time", "must be an RFC 3339 timestamp string", loc)
    m = _RFC3339.fullmatch(value.strip())
    if m is None:
        raise invalid("invalid_time", f"{value!r} is not an RFC 3339 timestamp", loc)
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    micros = int((m.group(7) or "0")[:6].ljust(6, "0"))
    offset = timedelta(0)
    if m.group(9):
        offset = timedelta(hours=int(m.group(10)), minutes=int(m.group(11)))
        if m.group(9) == "-":
            offset = -offset
    try:
        moment = datetime(year, month, day, hour, minute, second, micros, tzinfo=UTC)
    except ValueError as exc:
        raise invalid("invalid_time", f"{value!r}: {exc}", loc) from None
    delta = moment - offset - _EPOCH
    return delta.days * 86400 + delta.seconds + delta.microseconds / 1_000_000


def parse_optional_time(value: object, loc: Loc = ()) -> float | None:
    """Like ``parse_time``, but absent, empty and Go's zero time are ``None``."""
    if value is None or value == "":
        return None
    ts = parse_time(value, loc)
    return None if ts == _ZERO_SECONDS else ts
