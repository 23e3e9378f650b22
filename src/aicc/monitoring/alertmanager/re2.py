"""Go RE2 patterns compiled with Python's ``re`` for Alertmanager-style anchored matching.

RE2 spellings Python lacks are rewritten (``\\z``, ``\\Q...\\E``, ``[[:alpha:]]``, inline
flags such as ``(?i)`` in the middle of a pattern); constructs Python has and RE2 refuses
(look-around, back-references, atomic groups, possessive quantifiers) are refused, so a
pattern accepted here is accepted by Alertmanager.
"""

from __future__ import annotations

import re
import warnings

from aicc.monitoring.alertmanager.errors import Loc, invalid

_UNESCAPED = r"(?<!\\)(?:\\\\)*"
_NOT_RE2 = (
    (re.compile(_UNESCAPED + r"\(\?[=!]"), "look-ahead"),
    (re.compile(_UNESCAPED + r"\(\?<[=!]"), "look-behind"),
    (re.compile(_UNESCAPED + r"\(\?P="), "named back-reference"),
    (re.compile(_UNESCAPED + r"\(\?\("), "conditional group"),
    (re.compile(_UNESCAPED + r"\(\?>"), "atomic group"),
    (re.compile(_UNESCAPED + r"\\[1-9]"), "back-reference"),
    (re.compile(_UNESCAPED + r"[*+?}]\+"), "possessive quantifier"),
)
_FLAGS = re.compile(r"\(\?([a-zA-Z]*(?:-[a-zA-Z]+)?)\)")
_POSIX_CLASSES = {
    "alnum": "0-9A-Za-z",
    "alpha": "A-Za-z",
    "ascii": "\\x00-\\x7f",
    "blank": "\\t ",
    "cntrl": "\\x00-\\x1f\\x7f",
    "digit": "0-9",
    "graph": "!-~",
    "lower": "a-z",
    "print": " -~",
    "punct": "!-/:-@\\[-`{-~",
    "space": "\\t\\n\\v\\f\\r ",
    "upper": "A-Z",
    "word": "0-9A-Za-z_",
    "xdigit": "0-9A-Fa-f",
}


def compile_anchored(pattern: str, loc: Loc = ()) -> re.Pattern[str]:
    """Compile ``pattern`` for ``fullmatch``, which is Alertmanager's ``^(?:pattern)$``."""
    for probe, what in _NOT_RE2:
        if probe.search(pattern):
            raise invalid("invalid_regex", f"{what} is not supported by RE2: {pattern!r}", loc)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return re.compile(f"(?:{_translate(pattern)})")
    except (re.error, OverflowError) as exc:
        raise invalid(
            "invalid_regex", f"invalid regular expression {pattern!r}: {exc}", loc
        ) from None


def _translate(pattern: str) -> str:
    out: list[str] = []
    closers = [0]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            nxt = pattern[i + 1]
            if nxt == "Q":
                end = pattern.find("\\E", i + 2)
                out.append(re.escape(pattern[i + 2 :] if end < 0 else pattern[i + 2 : end]))
                i = n if end < 0 else end + 2
            else:
                out.append("\\Z" if nxt == "z" else ch + nxt)
                i += 2
            continue
        if ch == "[":
            i = _translate_class(pattern, i, out)
            continue
        if ch == "(":
            flags = _FLAGS.match(pattern, i)
            if flags is not None:
                out.append(f"(?{flags.group(1)}:")
                closers[-1] += 1
                i = flags.end()
                continue
            closers.append(0)
        elif ch == ")" and len(closers) > 1:
            out.append(")" * closers.pop())
        out.append(ch)
        i += 1
    out.append(")" * closers[0])
    return "".join(out)


def _translate_class(pattern: str, start: int, out: list[str]) -> int:
    """Copy the character class opening at ``start``; return the index after it."""
    out.append("[")
    i, n = start + 1, len(pattern)
    if i < n and pattern[i] == "^":
        out.append("^")
        i += 1
    if i < n and pattern[i] == "]":
        out.append("\\]")
        i += 1
    while i < n:
        ch = pattern[i]
        if ch == "\\" and i + 1 < n:
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if ch == "]":
            out.append("]")
            return i + 1
        if pattern.startswith("[:", i):
            end = pattern.find(":]", i + 2)
            body = _POSIX_CLASSES.get(pattern[i + 2 : end]) if end > 0 else None
            if body is not None:
                out.append(body)
                i = end + 2
                continue
        out.append("\\[" if ch == "[" else ch)
        i += 1
    return i
