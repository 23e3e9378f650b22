"""The recording service facade: the Python API that the HTTP app is built on."""

from __future__ import annotations

from collections.abc import Iterable

from aicc.core.errors import ConfigError
from aicc.core.jobs import JobContext, JobHandler, PeriodicTask
from aicc.recording.capture import FINALIZE_KIND
from aicc.recording.finalize import CALLBACK_KIND
from aicc.recording.imports import IMPORT_KIND, ImportMixin

SWEEP_EVERY = 15.0
PURGE_EVERY = 300.0


class RecordingService(ImportMixin):
    """Call recordings and chat transcripts: live capture, encrypted object storage, search,
    playback and retention."""

    async def on_recording_started(self) -> None:
        settings = self.settings.recording
        if settings.callback_url and settings.callback_secret is None:
            raise ConfigError(
                "AICC_RECORDING_CALLBACK_URL is set: set AICC_RECORDING_CALLBACK_SECRET too "
                "(the key that signs callbacks)"
            )

    def job_handlers(self) -> Iterable[JobHandler]:
        return [
            JobHandler(FINALIZE_KIND, self.finalize_job, timeout=3600, backoff_base=2.0),
            JobHandler(IMPORT_KIND, self.import_job, timeout=3600, backoff_base=2.0),
            JobHandler(CALLBACK_KIND, self.callback_job, timeout=30, backoff_base=5.0),
        ]

    def periodic_tasks(self) -> Iterable[PeriodicTask]:
        return [
            PeriodicTask("recording.sweep", every=self._sweep_every(), run=self._sweep),
            PeriodicTask("recording.purge", every=PURGE_EVERY, run=self.purge_job, timeout=3600),
        ]

    def _sweep_every(self) -> float:
        return max(1.0, min(SWEEP_EVERY, self.settings.recording.recovery_grace / 2))

    async def _sweep(self, _: JobContext) -> None:
        await self.sweep_live()
