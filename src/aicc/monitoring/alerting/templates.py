"""Annotation templates: the part of Prometheus' Go templates that alert annotations use.

An action is ``{{ X }}``, ``{{ F X }}`` or ``{{ X | F }}`` where X is ``$value`` (or
``.Value``), ``$threshold`` (the rule's threshold; not a Prometheus variable, so the rules-file
export writes it out as text) or ``$labels.NAME`` (or ``.Labels.NAME``), and F is
``humanize``, ``humanizePercentage``, ``humanizeDuration`` or ``printf "FORMAT"``. Values
print as Go prints a float64 (``91.2``, ``90``, ``1e+21``); a missing label prints
``<no value>``, as in Go. Anything else is refused when the rule is saved, so every saved
template renders and the exported file passes ``promtool check rules``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal

from aicc.monitoring.alerting.labels import quote

_ACTION = re.compile(r"\{\{-?\s*(.*?)\s*-?\}\}", re.DOTALL)
_OPERAND = r"(\$value|\.Value|\$threshold|\$labels\.[A-Za-z_]\w*|\.Labels\.[A-Za-z_]\w*)"
_FUNC = r'(humanize|humanizePercentage|humanizeDuration|printf\s+"(?:[^"\\]|\\.)*")'
_FORMS = (
    re.compile(rf"^{_OPERAND}$"),
    re.compile(rf"^{_FUNC}\s+{_OPERAND}$"),
    re.compile(rf"^{_OPERAND}\s*\|\s*{_FUNC}$"),
)
_VERB = re.compile(r"%(?:%|[-+ #0]*\d*(?:\.\d+)?[feEgGvsdq])")
_SUPPORTED = (
    "{{ $value }}, {{ $threshold }}, {{ $labels.NAME }}, optionally through humanize, "
    'humanizePercentage, humanizeDuration or printf "FORMAT" ({{ $value | humanize }})'
)


def _parse(action: str) -> tuple[str | None, str]:
    """(function or None, operand) of one action's inside."""
    for index, form in enumerate(_FORMS):
        found = form.match(action)
        if found is None:
            continue
        if index == 0:
            return None, found.group(1)
        if index == 1:
            return found.group(1), found.group(2)
        return found.group(2), found.group(1)
    raise ValueError(f"unsupported template action {{{{ {action} }}}}; use {_SUPPORTED}")


def validate(template: str) -> None:
    """Raise ValueError naming the first action this renderer does not support."""
    if template.count("{{") != len(_ACTION.findall(template)):
        raise ValueError(f"unbalanced braces in template {template!r}")
    for found in _ACTION.finditer(template):
        function, _ = _parse(found.group(1))
        if function is not None and function.startswith("printf"):
            _printf_format(function)


def render(template: str, *, value: float, labels: Mapping[str, str], threshold: float) -> str:
    """The template with every action replaced by its text."""

    def replace(found: re.Match[str]) -> str:
        function, operand = _parse(found.group(1))
        return _apply(function, _operand(operand, value, labels, threshold))

    return _ACTION.sub(replace, template)


def for_prometheus(template: str, *, threshold: float) -> str:
    """The template as Prometheus can run it: actions that use ``$threshold`` become text."""

    def replace(found: re.Match[str]) -> str:
        function, operand = _parse(found.group(1))
        if operand != "$threshold":
            return found.group(0)
        return _apply(function, threshold)

    return _ACTION.sub(replace, template)


def _operand(
    operand: str, value: float, labels: Mapping[str, str], threshold: float
) -> float | str | None:
    if operand in ("$value", ".Value"):
        return value
    if operand == "$threshold":
        return threshold
    return labels.get(operand.rsplit(".", 1)[1])


def _apply(function: str | None, operand: float | str | None) -> str:
    if function is None:
        if operand is None:
            return "<no value>"
        return go_float(operand) if isinstance(operand, float) else operand
    number = _to_float(operand)
    if function == "humanize":
        return humanize(number)
    if function == "humanizePercentage":
        return _g4(number * 100) + "%"
    if function == "humanizeDuration":
        return humanize_duration(number)
    return _printf(_printf_format(function), operand)


def _to_float(operand: float | str | None) -> float:
    try:
        return float(operand if operand is not None else "nan")
    except ValueError:
        return math.nan


def _printf_format(function: str) -> str:
    literal = function[len("printf") :].strip()[1:-1]
    fmt = re.sub(r"\\(.)", lambda m: {"n": "\n", "t": "\t"}.get(m.group(1), m.group(1)), literal)
    verbs = [v for v in _VERB.findall(fmt) if v != "%%"]
    if len(verbs) != 1 or fmt.count("%") != len(_VERB.findall(fmt)) + fmt.count("%%"):
        raise ValueError(f"printf format {literal!r} must have exactly one verb such as %.2f")
    return fmt


def _printf(fmt: str, operand: float | str | None) -> str:
    def verb(found: re.Match[str]) -> str:
        spec = found.group(0)
        if spec == "%%":
            return "%"
        kind = spec[-1]
        if kind == "v":
            return _apply(None, operand)
        if kind == "s":
            return spec % _apply(None, operand)
        if kind == "q":
            return quote(_apply(None, operand))
        number = _to_float(operand)
        if not math.isfinite(number):
            return go_float(number)
        if kind == "d":
            return spec % int(number)
        return spec % number

    return _VERB.sub(verb, fmt)


def _g4(number: float) -> str:
    if not math.isfinite(number):
        return go_float(number)
    return "%.4g" % number  # noqa: UP031 - Go's %.4g, which str.format spells differently


def humanize(number: float) -> str:
    """Prometheus' ``humanize``: 4 significant digits and an SI prefix (k, M, ... / m, u, ...)."""
    if number == 0 or not math.isfinite(number):
        return _g4(number)
    prefix = ""
    if abs(number) >= 1:
        for candidate in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(number) < 1000:
                break
            prefix = candidate
            number /= 1000
        return _g4(number) + prefix
    for candidate in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(number) >= 1:
            break
        prefix = candidate
        number *= 1000
    return _g4(number) + prefix


def humanize_duration(number: float) -> str:
    """Prometheus' ``humanizeDuration`` of seconds: ``1d 2h 3m 4s``, ``4.5s``, ``250ms``."""
    if not math.isfinite(number):
        return _g4(number)
    if number == 0:
        return _g4(number) + "s"
    if abs(number) >= 1:
        sign = "-" if number < 0 else ""
        number = abs(number)
        whole = int(number)
        seconds, minutes = whole % 60, (whole // 60) % 60
        hours, days = (whole // 3600) % 24, whole // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(number)}s"
    prefix = ""
    for candidate in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(number) >= 1:
            break
        prefix = candidate
        number *= 1000
    return f"{_g4(number)}{prefix}s"


def go_float(number: float) -> str:
    """A float64 as Go's ``fmt`` prints it with ``%v``: the shortest digits that read back
    the same, in exponent form below 1e-4 and from 1e21 (``90``, ``0.25``, ``1e+21``)."""
    if math.isnan(number):
        return "NaN"
    if math.isinf(number):
        return "+Inf" if number > 0 else "-Inf"
    if number == 0:
        return "-0" if math.copysign(1.0, number) < 0 else "0"
    sign = "-" if number < 0 else ""
    parts = Decimal(repr(abs(number))).normalize().as_tuple()
    digits = "".join(map(str, parts.digits))
    exponent = int(parts.exponent) + len(digits) - 1
    if exponent < -4 or exponent >= 21:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exponent < 0 else '+'}{abs(exponent):02d}"
    if exponent < 0:
        return f"{sign}0.{'0' * (-exponent - 1)}{digits}"
    if len(digits) <= exponent + 1:
        return sign + digits + "0" * (exponent + 1 - len(digits))
    return f"{sign}{digits[: exponent + 1]}.{digits[exponent + 1 :]}"
