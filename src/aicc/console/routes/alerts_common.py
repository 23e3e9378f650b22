"""What the alerts pages share: their permissions, reading forms, durations and matchers as
people type them, and a service's validation errors placed next to the form's fields."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import RedirectResponse
from starlette.datastructures import FormData

from aicc.console.dependencies import Visit, require
from aicc.console.errors import UpstreamError
from aicc.console.rendering import NO_STORE

READ = "alerts:read"
MANAGE = "alerts:manage"
Reader = Annotated[Visit, Depends(require(READ))]
Manager = Annotated[Visit, Depends(require(MANAGE))]
SEVERITIES = ("critical", "warning", "info")
_DURATION = re.compile(r"^(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?$")
_UNITS = (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
_PAIR = re.compile(r"^\s*([^=:\s][^=:]*?)\s*[=:]\s*(.*?)\s*$")


def go(location: str) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


def can_manage(visit: Visit) -> bool:
    user = visit.user
    return user is not None and user.can(MANAGE)


def text(form: FormData, name: str, limit: int = 2000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def texts(form: FormData, name: str, limit: int = 2000) -> list[str]:
    return [v.strip()[:limit] for v in form.getlist(name) if isinstance(v, str) and v.strip()]


def lines(value: str) -> list[str]:
    return [line.strip() for line in value.splitlines() if line.strip()]


def parse_duration(value: str) -> float | None:
    """``2h``, ``1h30m``, ``90s``, ``1d`` (Prometheus' units) in seconds; None if not one."""
    found = _DURATION.match(value.strip().lower())
    if not value.strip() or found is None:
        return None
    parts = [float(g) if g else 0.0 for g in found.groups()]
    return sum(part * unit for part, (_, unit) in zip(parts, _UNITS, strict=True))


def duration_text(seconds: float | None) -> str:
    """Seconds as the shortest Prometheus duration (``300`` → ``5m``); ``0`` → ``""``."""
    if not seconds:
        return ""
    if seconds != int(seconds):
        return f"{seconds:g}s"
    rest, out = int(seconds), ""
    for unit, size in _UNITS:
        if rest >= size:
            out += f"{rest // size}{unit}"
            rest %= size
    return out


def seconds_or_raw(value: str) -> float | str | None:
    """A duration field for the rules API: blank → None, ``5m`` or ``300`` → seconds, and
    anything else as typed, for the service to refuse next to the field."""
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        pass
    parsed = parse_duration(value)
    return parsed if parsed is not None else value


def parse_matcher(line: str) -> dict[str, Any] | None:
    """``name="value"``, ``name!=value``, ``name=~"re.*"``, ``name!~re`` as Alertmanager's
    API v2 matcher (quotes optional, ``\\"`` and ``\\\\`` inside quotes)."""
    found = _MATCHER.match(line)
    if found is None:
        return None
    name, op, value = found.groups()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = re.sub(r"\\(.)", r"\1", value[1:-1])
    return {"name": name, "value": value, "isRegex": "~" in op, "isEqual": op[0] != "!"}


def matcher_text(matcher: Mapping[str, Any]) -> str:
    op = ("=" if matcher.get("isEqual", True) else "!") + ("~" if matcher.get("isRegex") else "")
    if op == "!":
        op = "!="
    value = str(matcher.get("value", "")).replace("\\", "\\\\").replace('"', '\\"')
    return f'{matcher.get("name")}{op}"{value}"'


def label_matchers(labels: Mapping[str, str]) -> list[str]:
    """The matchers that pick out exactly an alert with these labels."""
    return [matcher_text({"name": k, "value": v}) for k, v in sorted(labels.items())]


def parse_pairs(value: str) -> tuple[dict[str, str], list[str]]:
    """``key=value`` (or ``key: value``) per line; and the lines that are neither."""
    pairs: dict[str, str] = {}
    bad: list[str] = []
    for line in lines(value):
        found = _PAIR.match(line)
        if found is None:
            bad.append(line)
        else:
            pairs[found[1]] = found[2]
    return pairs, bad


def pairs_text(pairs: Mapping[str, Any] | None, sep: str = "=") -> str:
    return "\n".join(f"{k}{sep}{v}" for k, v in (pairs or {}).items())


@dataclass
class FormErrors:
    """Problems to show: by field (next to it) and for the whole form."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)

    def add(self, name: str | None, message: str) -> None:
        if name is None:
            self.general.append(message)
        else:
            self.fields.setdefault(name, []).append(message)

    def __bool__(self) -> bool:
        return bool(self.fields or self.general)

    def of(self, name: str) -> str:
        return " ".join(self.fields.get(name, []))

    @classmethod
    def from_upstream(
        cls,
        exc: UpstreamError,
        known: Iterable[str],
        aliases: Mapping[str, str] | None = None,
    ) -> FormErrors:
        """A service's refusal: each ``details`` entry whose ``loc`` (or ``field``) names a
        form field goes next to it (``settings.url`` → ``url``; ``aliases`` maps the API's
        names, ``annotations.summary`` or ``for_seconds``, to the form's), the rest above
        the form."""
        errors = cls()
        names = set(known)
        aliases = aliases or {}
        details = exc.details if isinstance(exc.details, list) else []
        for detail in details:
            if not isinstance(detail, Mapping):
                continue
            loc = detail.get("loc")
            if not isinstance(loc, list):
                loc = str(detail.get("field") or "").split(".") if detail.get("field") else []
            parts = [str(p) for p in loc if not isinstance(p, int)]
            if parts[:1] == ["settings"]:
                parts = parts[1:]
            message = str(detail.get("msg") or exc.message).removeprefix("Value error, ")
            candidates = [".".join(parts[:2]), *parts[:1]] if parts else []
            found = (aliases.get(c, c) for c in candidates)
            target = next((name for name in found if name in names), None)
            errors.add(target, message if target else _located(parts, message))
        if not errors:
            errors.add(None, exc.message or exc.code)
        return errors


def _located(parts: list[str], message: str) -> str:
    return f"{'.'.join(parts)}: {message}" if parts else message
