"""The recording service facade: the Python API that the HTTP app is built on."""

from __future__ import annotations

from typing import ClassVar

from aicc.core.service import Backend, ServiceBase


class RecordingService(ServiceBase):
    """Call recordings and chat transcripts:
    encrypted object storage, search, playback and retention.
    """

    name = "recording"
    title = "AICC Recording"
    backends: ClassVar[tuple[Backend, ...]] = ("database", "cache", "storage")
