"""Label matchers as Alertmanager's ``pkg/labels``: ``=``, ``!=``, ``=~``, ``!~``.

Regular expressions are anchored at both ends (``^(?:re)$``), so ``service=~"rec"`` does not
match ``recording``; patterns are RE2 (see ``re2``). A label an alert lacks has the empty
value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from aicc.monitoring.alertmanager.errors import Loc, invalid
from aicc.monitoring.alertmanager.labels import Labels, go_quote, is_classic_label_name
from aicc.monitoring.alertmanager.re2 import compile_anchored


class MatchType(StrEnum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


_TYPE_ORDER = {
    MatchType.EQUAL: 0,
    MatchType.NOT_EQUAL: 1,
    MatchType.REGEX: 2,
    MatchType.NOT_REGEX: 3,
}
_RESERVED = set("{}!=~,\\\"'`")
_CLASSIC = re.compile(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(=~|=|!=|!~)\s*((?s:.*?))\s*")


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher. Build with ``Matcher.of`` (validates and compiles), a parser, or
    ``from_api``."""

    name: str
    type: MatchType
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, name: str, type: MatchType | str, value: str, loc: Loc = ()) -> Matcher:
        match_type = MatchType(type)
        if not name:
            raise invalid("invalid_matcher", "label name must not be empty", loc)
        regex = None
        if match_type in (MatchType.REGEX, MatchType.NOT_REGEX):
            regex = compile_anchored(value, loc)
        return cls(name, match_type, value, regex)

    def matches(self, value: str) -> bool:
        if self.type is MatchType.EQUAL:
            return value == self.value
        if self.type is MatchType.NOT_EQUAL:
            return value != self.value
        assert self._regex is not None
        found = self._regex.fullmatch(value) is not None
        return found if self.type is MatchType.REGEX else not found

    def matches_labels(self, labels: Labels) -> bool:
        return self.matches(labels.get(self.name, ""))

    def matches_empty(self) -> bool:
        """Alertmanager's ``matchesEmpty`` used to refuse silences that match everything:
        only ``=`` and ``=~`` count; ``!=`` and ``!~`` never do."""
        return self.type in (MatchType.EQUAL, MatchType.REGEX) and self.matches("")

    def __str__(self) -> str:
        if any(ch.isspace() or ch in _RESERVED for ch in self.name):
            return f"{go_quote(self.name)}{self.type.value}{go_quote(self.value)}"
        escaped = self.value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')
        return f'{self.name}{self.type.value}"{escaped}"'

    def to_api(self) -> dict[str, Any]:
        """API v2 shape: ``{"name", "value", "isRegex", "isEqual"}``."""
        return {
            "name": self.name,
            "value": self.value,
            "isRegex": self.type in (MatchType.REGEX, MatchType.NOT_REGEX),
            "isEqual": self.type in (MatchType.EQUAL, MatchType.REGEX),
        }

    @classmethod
    def from_api(cls, obj: object, loc: Loc = ()) -> Matcher:
        """From the API v2 shape; ``isEqual`` defaults to true, the rest are required."""
        if not isinstance(obj, Mapping):
            raise invalid("invalid_matcher", "a matcher must be an object", loc)
        unknown = set(obj) - {"name", "value", "isRegex", "isEqual"}
        if unknown:
            raise invalid("invalid_matcher", f"unknown field {sorted(unknown)[0]!r}", loc)
        name, value = obj.get("name"), obj.get("value")
        is_regex, is_equal = obj.get("isRegex"), obj.get("isEqual", True)
        if not isinstance(name, str):
            raise invalid(
                "invalid_matcher", "name is required and must be a string", [*loc, "name"]
            )
        if not isinstance(value, str):
            raise invalid(
                "invalid_matcher", "value is required and must be a string", [*loc, "value"]
            )
        if not isinstance(is_regex, bool):
            raise invalid(
                "invalid_matcher", "isRegex is required and must be a boolean", [*loc, "isRegex"]
            )
        if not isinstance(is_equal, bool):
            raise invalid("invalid_matcher", "isEqual must be a boolean", [*loc, "isEqual"])
        if is_regex:
            match_type = MatchType.REGEX if is_equal else MatchType.NOT_REGEX
        else:
            match_type = MatchType.EQUAL if is_equal else MatchType.NOT_EQUAL
        return cls.of(name, match_type, value, loc)


def sort_key(m: Matcher) -> tuple[str, str, int]:
    """Alertmanager's ``Matchers.Less``: by name, then value, then type."""
    return (m.name, m.value, _TYPE_ORDER[m.type])


def sort_matchers(matchers: Iterable[Matcher]) -> tuple[Matcher, ...]:
    return tuple(sorted(matchers, key=sort_key))


def matches_all(matchers: Iterable[Matcher], labels: Labels) -> bool:
    return all(m.matches_labels(labels) for m in matchers)


def matchers_string(matchers: Iterable[Matcher]) -> str:
    """``labels.Matchers.String()``: ``{a="1",b=~"x.*"}`` (no space after commas)."""
    return "{" + ",".join(str(m) for m in matchers) + "}"


def parse_matcher(text: str, loc: Loc = ()) -> Matcher:
    """One matcher in Alertmanager's string form: ``name="value"``, ``name=~"re.*"``, the
    value quoted or not (``severity=critical``), OpenMetrics escapes in quoted values; a
    quoted or non-ASCII label name as the UTF-8 parser allows."""
    m = _CLASSIC.fullmatch(text)
    if m is None:
        return _parse_utf8(text, loc)
    raw = m.group(3)
    quoted = raw.startswith('"')
    if quoted:
        raw = raw[1:]
    value: list[str] = []
    i = 0
    while i < len(raw):
        ch = raw[i]
        if ch == "\\" and i < len(raw) - 1:
            nxt = raw[i + 1]
            value.append("\n" if nxt == "n" else nxt if nxt in '"\\' else "\\" + nxt)
            i += 2
            continue
        if ch == '"':
            if not quoted or i < len(raw) - 1:
                raise invalid("invalid_matcher", f"unescaped double quote in {text!r}", loc)
            quoted = False
        else:
            value.append(ch)
        i += 1
    if quoted:
        raise invalid("invalid_matcher", f"missing closing double quote in {text!r}", loc)
    return Matcher.of(m.group(1), m.group(2), "".join(value), loc)


_UTF8 = re.compile(
    r'\s*("(?:[^"\\]|\\.)*"|[^\s{}!=~,\\"\'`]+)\s*(=~|=|!=|!~)\s*("(?:[^"\\]|\\.)*"|[^\s{}!=~,\\"\'`]*)\s*'
)


def _parse_utf8(text: str, loc: Loc) -> Matcher:
    m = _UTF8.fullmatch(text)
    if m is None:
        raise invalid("invalid_matcher", f"bad matcher format: {text!r}", loc)
    name, value = _unquote(m.group(1), text, loc), _unquote(m.group(3), text, loc)
    return Matcher.of(name, m.group(2), value, loc)


def _unquote(token: str, text: str, loc: Loc) -> str:
    if not token.startswith('"'):
        return token
    out: list[str] = []
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    i = 1
    while i < len(token) - 1:
        if token[i] == "\\":
            esc = token[i + 1]
            if esc not in escapes:
                raise invalid("invalid_matcher", f"invalid escape in {text!r}", loc)
            out.append(escapes[esc])
            i += 2
        else:
            out.append(token[i])
            i += 1
    return "".join(out)


def parse_matchers(text: str, loc: Loc = ()) -> list[Matcher]:
    """A comma-separated list as in ``matchers:`` entries and amtool filters, optionally in
    braces: ``{severity="critical", service=~"rec.*"}``; commas inside quotes are kept."""
    body = text.strip()
    body = body.removeprefix("{").removesuffix("}")
    tokens: list[str] = []
    token: list[str] = []
    inside, escaped = False, False
    for ch in body:
        if ch == "," and not inside:
            tokens.append("".join(token))
            token = []
            continue
        if ch == '"':
            if escaped:
                escaped = False
            else:
                inside = not inside
        elif ch == "\\":
            escaped = not escaped
        else:
            escaped = False
        token.append(ch)
    last = "".join(token).strip()
    if last:
        tokens.append(last)
    return [parse_matcher(t, loc) for t in tokens]


def matchers_from_maps(
    match: object, match_re: object, loc: Loc = (), prefix: str = ""
) -> list[Matcher]:
    """The deprecated ``match`` / ``match_re`` maps of alertmanager.yml as matchers
    (``prefix`` names them in errors: ``source_`` for ``source_match``)."""
    out: list[Matcher] = []
    for key, kind, table in (
        (f"{prefix}match", MatchType.EQUAL, match),
        (f"{prefix}match_re", MatchType.REGEX, match_re),
    ):
        if table is None:
            continue
        if not isinstance(table, Mapping):
            raise invalid("invalid_matcher", "must be a map of label name to value", [*loc, key])
        for name, value in table.items():
            where = [*loc, key, str(name)]
            if not isinstance(name, str) or not is_classic_label_name(name):
                raise invalid("invalid_matcher", f"invalid label name {name!r}", where)
            if not isinstance(value, str):
                raise invalid("invalid_matcher", "value must be a string", where)
            out.append(Matcher.of(name, kind, value, where))
    return out


def parse_matcher_list(items: object, loc: Loc = ()) -> list[Matcher]:
    """A ``matchers:`` list: strings (each may hold several, comma-separated) or API v2
    objects, in any mix."""
    if items is None:
        return []
    if not isinstance(items, Sequence) or isinstance(items, str):
        raise invalid("invalid_matcher", "must be a list of matchers", loc)
    out: list[Matcher] = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            out.extend(parse_matchers(item, [*loc, i]))
        else:
            out.append(Matcher.from_api(item, [*loc, i]))
    return out
