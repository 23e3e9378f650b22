"""The one error this package raises for bad input: a 422 naming the field."""

from __future__ import annotations

from collections.abc import Sequence

from aicc.core.errors import ValidationFailed

Loc = Sequence[str | int]


def invalid(code: str, msg: str, loc: Loc = ()) -> ValidationFailed:
    """A ``ValidationFailed`` with a machine-readable ``code`` and ``details`` in the
    project's ``[{"loc": [...], "msg": ...}]`` shape; the message is prefixed with the
    dotted field path so it reads on its own."""
    path = ".".join(f"[{p}]" if isinstance(p, int) else p for p in loc).replace(".[", "[")
    message = f"{path}: {msg}" if path else msg
    return ValidationFailed(message, code=code, details=[{"loc": list(loc), "msg": msg}])
