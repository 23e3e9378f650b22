"""Prometheus durations (``model.Duration``): ``30s``, ``5m``, ``1h30m``, ``1d``, ``1w``."""

from __future__ import annotations

import re

from aicc.monitoring.alertmanager.errors import Loc, invalid

_UNITS_MS = (
    ("y", 365 * 86_400_000),
    ("w", 7 * 86_400_000),
    ("d", 86_400_000),
    ("h", 3_600_000),
    ("m", 60_000),
    ("s", 1000),
    ("ms", 1),
)
_PATTERN = re.compile("".join(rf"(?:(\d+){unit})?" for unit, _ in _UNITS_MS))
_MAX_MS = (2**63 - 1) // 1_000_000


def parse_duration(text: object, loc: Loc = ()) -> float:
    """Seconds in a Prometheus duration: units ``y w d h m s ms`` in that order, each at most
    once, no sign, no fraction; ``"0"`` alone is zero. A YAML integer (``0``) is read as its
    text, as Alertmanager's YAML does."""
    if isinstance(text, bool) or not isinstance(text, str | int):
        raise invalid("invalid_duration", "must be a duration string such as '30s'", loc)
    value = str(text)
    if value == "0":
        return 0.0
    m = _PATTERN.fullmatch(value) if value else None
    if m is None:
        raise invalid("invalid_duration", f"not a valid duration string: {value!r}", loc)
    ms = sum(int(g) * mult for g, (_, mult) in zip(m.groups(), _UNITS_MS, strict=True) if g)
    if ms > _MAX_MS:
        raise invalid("invalid_duration", f"duration out of range: {value!r}", loc)
    return ms / 1000


def format_duration(seconds: float) -> str:
    """Prometheus' ``Duration.String()``: the largest units first, years and weeks only when
    they divide exactly (``90d``, not ``12w6d``), milliseconds at most; ``0s`` for zero."""
    ms = round(seconds * 1000)
    if ms <= 0:
        return "0s"
    out = []
    for unit, mult in _UNITS_MS:
        if unit in ("y", "w") and ms % mult:
            continue
        count, ms = divmod(ms, mult)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)
