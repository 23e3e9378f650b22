"""Label sets, Alertmanager's label fingerprint and Prometheus label matchers."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

Labels = tuple[tuple[str, str], ...]
"""A label set as sorted ``(name, value)`` pairs: hashable and in fingerprint order."""

MatchOp = Literal["=", "!=", "=~", "!~"]

LABEL_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_MATCHER = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$")
_ESCAPES = {"\\": "\\", '"': '"', "n": "\n", "t": "\t"}

_FNV_OFFSET = 14695981039346656037
_FNV_PRIME = 1099511628211
_MASK = (1 << 64) - 1


def labels_of(mapping: Mapping[str, str]) -> Labels:
    return tuple(sorted(mapping.items()))


@lru_cache(maxsize=65536)
def _fingerprint(labels: Labels) -> str:
    h = _FNV_OFFSET
    for name, value in labels:
        for part in (name, value):
            for byte in part.encode():
                h = ((h ^ byte) * _FNV_PRIME) & _MASK
            h = ((h ^ 0xFF) * _FNV_PRIME) & _MASK
    return f"{h:016x}"


def fingerprint(labels: Mapping[str, str] | Labels) -> str:
    """Alertmanager's ``LabelSet.Fingerprint()``: FNV-1a 64 over the label names in sorted
    order, each name and value followed by the byte 0xff; 16 lowercase hex digits."""
    if isinstance(labels, Mapping):
        return _fingerprint(labels_of(labels))
    return _fingerprint(labels if _is_sorted(labels) else tuple(sorted(labels)))


def _is_sorted(labels: Labels) -> bool:
    return all(labels[i][0] < labels[i + 1][0] for i in range(len(labels) - 1))


@lru_cache(maxsize=4096)
def _anchored(pattern: str) -> re.Pattern[str]:
    return re.compile(f"^(?:{pattern})$", re.DOTALL)


@dataclass(frozen=True, slots=True)
class Matcher:
    """One label matcher with Prometheus' meaning: a missing label has the value ``""``, and
    regular expressions match the whole value."""

    name: str
    op: MatchOp
    value: str

    def __post_init__(self) -> None:
        if not LABEL_NAME.match(self.name):
            raise ValueError(f"invalid label name {self.name!r}")
        if self.op in ("=~", "!~"):
            try:
                _anchored(self.value)
            except re.error as exc:
                raise ValueError(f"invalid regular expression {self.value!r}: {exc}") from exc

    def matches(self, labels: Mapping[str, str]) -> bool:
        actual = labels.get(self.name, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        found = _anchored(self.value).match(actual) is not None
        return found if self.op == "=~" else not found

    @classmethod
    def parse(cls, text: str) -> Matcher:
        """Parse an Alertmanager/PromQL matcher such as ``service=~"rec.*"`` or ``queue=VIP``."""
        found = _MATCHER.match(text)
        if found is None:
            raise ValueError(f'invalid matcher {text!r}; expected name="value" (=, !=, =~, !~)')
        name, op, raw = found.groups()
        return cls(name, op, _unquote(raw))  # type: ignore[arg-type]

    def promql(self) -> str:
        return f"{self.name}{self.op}{quote(self.value)}"


def _unquote(raw: str) -> str:
    if len(raw) >= 2 and raw[0] == raw[-1] == '"':
        out: list[str] = []
        chars = iter(raw[1:-1])
        for char in chars:
            if char == "\\":
                escaped = next(chars, "\\")
                out.append(_ESCAPES.get(escaped, "\\" + escaped))
            elif char == '"':
                raise ValueError(f"unescaped quote in {raw!r}")
            else:
                out.append(char)
        return "".join(out)
    if '"' in raw:
        raise ValueError(f"unbalanced quotes in {raw!r}")
    return raw


def quote(value: str) -> str:
    """A PromQL/Go double-quoted string literal."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("\t", "\\t") + '"'


def matches_all(matchers: Iterable[Matcher], labels: Mapping[str, str]) -> bool:
    return all(m.matches(labels) for m in matchers)
