"""CPU, memory and disk of the machine the monitoring service runs on (psutil), under the
spec's metric names."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import psutil
from prometheus_client import CollectorRegistry, Gauge


class SystemMetrics:
    """``system_cpu_usage_percent``, ``system_memory_usage_percent`` and
    ``system_disk_usage_percent{path}``, refreshed on demand (psutil calls take microseconds).

    CPU usage is the share since the previous reading, so the first reading is primed at
    construction: the first value reported is real, never psutil's meaningless first 0.0.
    """

    def __init__(self, registry: CollectorRegistry, disk_paths: Iterable[Path | str]) -> None:
        self.cpu = Gauge(
            "system_cpu_usage_percent",
            "CPU in use, all cores, since the last reading",
            registry=registry,
        )
        self.memory = Gauge(
            "system_memory_usage_percent",
            "Memory in use (not available to new processes)",
            registry=registry,
        )
        self.disk = Gauge(
            "system_disk_usage_percent",
            "Space used on the file system holding each path",
            ["path"],
            registry=registry,
        )
        self.paths = _distinct_mounts(disk_paths)
        psutil.cpu_percent(interval=None)

    def refresh(self) -> dict[str, float]:
        """Read the machine now; returns the values by metric name (disk: the highest)."""
        cpu = psutil.cpu_percent(interval=None)
        memory = psutil.virtual_memory().percent
        self.cpu.set(cpu)
        self.memory.set(memory)
        highest = 0.0
        for path in self.paths:
            try:
                used = psutil.disk_usage(path).percent
            except OSError:
                continue
            self.disk.labels(path).set(used)
            highest = max(highest, used)
        return {
            "system_cpu_usage_percent": cpu,
            "system_memory_usage_percent": memory,
            "system_disk_usage_percent": highest,
        }


def _distinct_mounts(paths: Iterable[Path | str]) -> list[str]:
    """Existing paths, one per file system (the data folder and ``/`` are often the same)."""
    seen: set[int] = set()
    kept: list[str] = []
    for raw in paths:
        path = str(Path(raw).expanduser())
        try:
            device = os.stat(path).st_dev
        except OSError:
            continue
        if device not in seen:
            seen.add(device)
            kept.append(path)
    return kept
