"""Argument checks beyond a parameter's type (an E.164 number, a path that stays under the
endpoint), run wherever the core checks a payload so a bad one is a 422 before any delivery."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aicc.core.errors import ValidationFailed
from aicc.integration.connectors.base import Method


def invalid(name: str, message: str) -> ValidationFailed:
    """A 422 naming one payload field, shaped like :meth:`Method.arguments`' answer."""
    return ValidationFailed(
        f"invalid argument {name}",
        code="invalid_arguments",
        details=[{"loc": ["payload", name], "msg": message, "type": "value_error"}],
    )


@dataclass(frozen=True)
class CheckedMethod(Method):
    """A method whose arguments also pass ``check`` (which raises :func:`invalid`)."""

    check: Callable[[Mapping[str, Any]], object] | None = None

    def arguments(self, payload: Mapping[str, Any]) -> dict[str, Any]:
        args = super().arguments(payload)
        if self.check is not None:
            self.check(args)
        return args
