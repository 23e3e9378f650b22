"""HTTP ``Range`` for downloads: one range (``bytes=a-b``, ``bytes=a-``, ``bytes=-n``)."""

from __future__ import annotations

from dataclasses import dataclass

from aicc.core.errors import AppError


class RangeNotSatisfiable(AppError):
    status_code = 416
    code = "range_not_satisfiable"
    message = "The requested range is not satisfiable"


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int
    """Inclusive."""

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """The one range a ``Range`` header asks for, or None to send the whole object (no
    header, another unit, several ranges, or a header that is not a range at all, which
    RFC 9110 says to ignore). Raises RangeNotSatisfiable when it selects nothing."""
    if not header:
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if not dash or not (first.isdigit() or last.isdigit()):
        return None
    if (first and not first.isdigit()) or (last and not last.isdigit()):
        return None
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if last and int(last) < start:
        return None
    if start >= size:
        raise _unsatisfiable(size)
    return ByteRange(start, end)


def _unsatisfiable(size: int) -> RangeNotSatisfiable:
    return RangeNotSatisfiable(
        f"The recording has {size} bytes", headers={"Content-Range": f"bytes */{size}"}
    )
