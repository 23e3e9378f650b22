"""Request bodies that carry an audio file: the raw body, or the ``file`` part of a
``multipart/form-data`` body, streamed in chunks (never spooled to disk: a multipart parser
that writes temporary files would leave the audio in clear)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

from python_multipart import MultipartParser
from python_multipart.multipart import parse_options_header
from starlette.requests import Request

from aicc.core.errors import BadRequest, PayloadTooLarge, ValidationFailed

FILE_FIELD = b"file"


async def audio_body(request: Request, limit: int) -> AsyncIterator[bytes]:
    """The uploaded file's bytes as they arrive; 413 past ``limit``, 422 without a file."""
    kind, options = parse_options_header(request.headers.get("content-type", ""))
    if kind == b"multipart/form-data":
        boundary = options.get(b"boundary")
        if not boundary:
            raise BadRequest("multipart body without a boundary", code="bad_multipart")
        source = _file_part(request.stream(), boundary)
    else:
        source = request.stream()
    seen = 0
    async for chunk in source:
        seen += len(chunk)
        if seen > limit:
            raise PayloadTooLarge(f"The file exceeds {limit} bytes", code="payload_too_large")
        if chunk:
            yield chunk
    if seen == 0:
        raise ValidationFailed("The request carries no audio file", code="empty_upload")


@dataclass
class _PartState:
    header: bytes = b""
    value: bytes = b""
    is_file: bool = False
    found: bool = False


async def _file_part(stream: AsyncIterator[bytes], boundary: bytes) -> AsyncIterator[bytes]:
    """The data of the part named ``file``; other parts are skipped."""
    state = _PartState()
    pieces: list[bytes] = []

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.value += data[start:end]

    def on_header_end() -> None:
        if state.header.lower() == b"content-disposition":
            _, params = parse_options_header(state.value)
            state.is_file = params.get(b"name") == FILE_FIELD
            state.found = state.found or state.is_file
        state.header, state.value = b"", b""

    def on_part_data(data: bytes, start: int, end: int) -> None:
        if state.is_file:
            pieces.append(bytes(data[start:end]))

    def on_part_begin() -> None:
        state.is_file = False

    parser = MultipartParser(
        boundary,
        {
            "on_part_begin": on_part_begin,
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_part_data": on_part_data,
        },
    )
    async for chunk in stream:
        try:
            parser.write(chunk)
        except Exception:
            raise BadRequest("The multipart body is malformed", code="bad_multipart") from None
        for piece in pieces:
            yield piece
        pieces.clear()
    parser.finalize()
    if not state.found:
        raise ValidationFailed("The form has no part named 'file'", code="empty_upload")
