"""AICC Recording."""

from aicc.recording.service import RecordingService

__all__ = ["RecordingService"]
