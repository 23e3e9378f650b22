"""Label sets as Prometheus' ``model.LabelSet``: fingerprint, string form and ordering."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache

Labels = Mapping[str, str]

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = 0xFFFFFFFFFFFFFFFF
_SEPARATOR = b"\xff"
_CLASSIC_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_GO_ESCAPES = {
    "\a": "\\a",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
    "\v": "\\v",
}


def fingerprint(labels: Labels) -> str:
    """``model.LabelSet.Fingerprint()``: FNV-1a 64 over sorted ``name 0xff value 0xff``, as
    16 hex digits; the same value Alertmanager shows as an alert's ``fingerprint``."""
    return _fingerprint(tuple(sorted(labels.items())))


@lru_cache(maxsize=65_536)
def _fingerprint(items: tuple[tuple[str, str], ...]) -> str:
    h = _FNV_OFFSET
    for name, value in items:
        for byte in name.encode() + _SEPARATOR + value.encode() + _SEPARATOR:
            h = ((h ^ byte) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def go_quote(s: str) -> str:
    """Go's ``strconv.Quote`` for the strings labels hold."""
    out = ['"']
    for ch in s:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif ch.isprintable():
            out.append(ch)
        elif ord(ch) < 0x80:
            out.append(f"\\x{ord(ch):02x}")
        elif ord(ch) <= 0xFFFF:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(f"\\U{ord(ch):08x}")
    out.append('"')
    return "".join(out)


def labelset_string(labels: Labels) -> str:
    """``model.LabelSet.String()``: ``{a="1", b="2"}``, names sorted, values Go-quoted."""
    return "{" + ", ".join(f"{name}={go_quote(labels[name])}" for name in sorted(labels)) + "}"


def is_classic_label_name(name: str) -> bool:
    return _CLASSIC_NAME.fullmatch(name) is not None


def labels_before(a: Labels, b: Labels) -> bool:
    """``model.LabelSet.Before``: fewer labels first, then the first differing pair in the
    sorted union of names decides (a missing name sorts first)."""
    if len(a) != len(b):
        return len(a) < len(b)
    for name in sorted(set(a) | set(b)):
        if name not in a:
            return True
        if name not in b:
            return False
        if a[name] != b[name]:
            return a[name] < b[name]
    return False


def alert_labels_less(a: Labels, b: Labels) -> bool:
    """``types.AlertSlice.Less``: by ``job``, then ``instance`` (present before absent), then
    the whole label set; the order alerts appear in a notification."""
    for key in ("job", "instance"):
        if key not in a and key not in b:
            continue
        if key not in a:
            return False
        if key not in b:
            return True
        if a[key] != b[key]:
            return a[key] < b[key]
    return labels_before(a, b)
