"""Prometheus figures of the recording service's ingest.

Finalizing and importing are jobs, counted by the jobs' own ``aicc_jobs_*`` families (kinds
``recording.finalize`` and ``recording.import``).
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter

SOURCES = ("live", "import")


class RecordingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.ingested = Counter(
            "aicc_recording_ingested_bytes",
            "Audio bytes this process stored, by source: live (new bytes of live capture; "
            "a retried chunk counts once) or import (uploaded files accepted)",
            ["source"],
            registry=registry,
        )
        for source in SOURCES:
            self.ingested.labels(source)

    def live(self, stored: int) -> None:
        self.ingested.labels("live").inc(stored)

    def imported(self, stored: int) -> None:
        self.ingested.labels("import").inc(stored)
