"""Publishes metric points to CloudWatch with ``PutMetricData``, within its limits.

A request holds at most 1,000 metric data and 1 MB (botocore's model text). The size is
bounded before sending from the larger of the query (form) and JSON encodings of each datum,
so a batch fits whichever protocol botocore speaks (botocore now prefers CBOR, which is
smaller than both; gzip only shrinks it further). Each datum has at most 30 dimensions;
values must be finite and within ±2^360, timestamps within two weeks back and two hours
ahead: points outside these are skipped and counted, never sent to be rejected.

Batches go one after another. A throttled batch is retried with backoff; a batch that still
fails is counted and the rest are sent (the gauges are published again next period, so a lost
batch is a gap, not a loss worth blocking on).
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from botocore.exceptions import BotoCoreError, ClientError

from aicc.monitoring.connect.poller import ClientFactory
from aicc.monitoring.connect.retry import Backoff, RetryBudget, Throttled, error_code

MAX_DATA_PER_CALL = 1000
MAX_BYTES_PER_CALL = 1_000_000
MAX_DIMENSIONS = 30
MAX_ABS_VALUE = 2.0**360
MAX_AGE_SECONDS = 14 * 86400
MAX_AHEAD_SECONDS = 2 * 3600
UNITS = frozenset(
    {
        "Seconds", "Microseconds", "Milliseconds", "Bytes", "Kilobytes", "Megabytes",
        "Gigabytes", "Terabytes", "Bits", "Kilobits", "Megabits", "Gigabits", "Terabits",
        "Percent", "Count", "Bytes/Second", "Kilobytes/Second", "Megabytes/Second",
        "Gigabytes/Second", "Terabytes/Second", "Bits/Second", "Kilobits/Second",
        "Megabits/Second", "Gigabits/Second", "Terabits/Second", "Count/Second", "None",
    }
)  # fmt: skip

_FIELD_OVERHEAD = 60
"""Bytes a field costs beyond its value, at most: the query key
``&MetricData.member.1000.Dimensions.member.30.Value=`` is 51."""
_REQUEST_OVERHEAD = 200


@dataclass(frozen=True, slots=True)
class MetricPoint:
    """One value of one metric. ``timestamp`` is epoch seconds (None: when published)."""

    name: str
    value: float
    unit: str = "None"
    dimensions: Mapping[str, str] = field(default_factory=dict)
    timestamp: float | None = None

    def __post_init__(self) -> None:
        if not 1 <= len(self.name) <= 255:
            raise ValueError(f"metric name must be 1..255 characters: {self.name!r}")
        if self.unit not in UNITS:
            raise ValueError(f"{self.unit!r} is not a CloudWatch unit")
        if len(self.dimensions) > MAX_DIMENSIONS:
            raise ValueError(f"{self.name}: more than {MAX_DIMENSIONS} dimensions")
        for key, value in self.dimensions.items():
            if not 1 <= len(key) <= 255 or not 1 <= len(value) <= 1024:
                raise ValueError(
                    f"{self.name}: dimension names must be 1..255 characters and values "
                    f"1..1024: {key!r}={value!r}"
                )


@dataclass(slots=True)
class PublishReport:
    calls: int = 0
    """``PutMetricData`` requests that succeeded."""
    sent: int = 0
    skipped: dict[str, int] = field(default_factory=dict)
    """Points not sent, by reason: ``not_finite``, ``out_of_range``, ``timestamp``."""
    failed: int = 0
    """Points in batches that failed."""
    errors: list[str] = field(default_factory=list)
    """AWS error code of each failed batch."""
    throttled: int = 0
    batch_sizes: list[int] = field(default_factory=list)
    batch_bytes: list[int] = field(default_factory=list)
    """The size bound of each request sent, in bytes."""

    @property
    def ok(self) -> bool:
        return self.failed == 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "sent": self.sent,
            "skipped": dict(self.skipped),
            "failed": self.failed,
            "errors": list(self.errors),
            "throttled": self.throttled,
        }


@lru_cache(maxsize=8192)
def _encoded(text: str) -> int:
    """Bytes of ``text`` in the larger of the query and JSON encodings (names and label
    values repeat across points, hence the cache)."""
    return max(len(quote(text, safe="-_.~")), len(json.dumps(text)) - 2)


def _datum(point: MetricPoint, when: float, resolution: int) -> tuple[dict[str, Any], int]:
    datum: dict[str, Any] = {
        "MetricName": point.name,
        "Value": float(point.value),
        "Unit": point.unit,
        "Timestamp": datetime.fromtimestamp(when, UTC),
        "StorageResolution": resolution,
    }
    size = 5 * _FIELD_OVERHEAD + _encoded(point.name) + len(point.unit) * 3 + 25 + 32 + 2
    if point.dimensions:
        datum["Dimensions"] = [{"Name": k, "Value": v} for k, v in point.dimensions.items()]
        for key, value in point.dimensions.items():
            size += 2 * _FIELD_OVERHEAD + _encoded(key) + _encoded(value)
    return datum, size


class CloudWatchPublisher:
    """``PutMetricData`` to one namespace. ``storage_resolution`` 1 stores high-resolution
    (per-second) data; 60, the default, standard resolution."""

    def __init__(
        self,
        client_factory: ClientFactory,
        namespace: str = "AICC/ContactCenter",
        *,
        storage_resolution: int = 60,
        max_data_per_call: int = MAX_DATA_PER_CALL,
        max_bytes_per_call: int = MAX_BYTES_PER_CALL,
        backoff: Backoff | None = None,
    ) -> None:
        if not 1 <= len(namespace) <= 255 or namespace.startswith(":"):
            raise ValueError("namespace must be 1..255 characters, not starting with ':'")
        if storage_resolution not in (1, 60):
            raise ValueError("storage_resolution must be 1 or 60")
        self.client_factory = client_factory
        self.namespace = namespace
        self.storage_resolution = storage_resolution
        self.max_data_per_call = min(max_data_per_call, MAX_DATA_PER_CALL)
        self.max_bytes_per_call = min(max_bytes_per_call, MAX_BYTES_PER_CALL)
        self.backoff = backoff or Backoff()

    def batches(
        self, points: Iterable[MetricPoint], report: PublishReport, now: float
    ) -> Iterator[tuple[list[dict[str, Any]], int]]:
        """The ``MetricData`` lists to send, each with its size bound; invalid points are
        counted in ``report.skipped``."""
        budget = self.max_bytes_per_call - _REQUEST_OVERHEAD - _encoded(self.namespace)
        batch: list[dict[str, Any]] = []
        size = 0
        for point in points:
            reason = self._invalid(point, now)
            if reason is not None:
                report.skipped[reason] = report.skipped.get(reason, 0) + 1
                continue
            when = now if point.timestamp is None else point.timestamp
            datum, cost = _datum(point, when, self.storage_resolution)
            if batch and (len(batch) >= self.max_data_per_call or size + cost > budget):
                yield batch, size + _REQUEST_OVERHEAD + _encoded(self.namespace)
                batch, size = [], 0
            batch.append(datum)
            size += cost
        if batch:
            yield batch, size + _REQUEST_OVERHEAD + _encoded(self.namespace)

    @staticmethod
    def _invalid(point: MetricPoint, now: float) -> str | None:
        if not math.isfinite(point.value):
            return "not_finite"
        if abs(point.value) > MAX_ABS_VALUE:
            return "out_of_range"
        if point.timestamp is not None and not (
            now - MAX_AGE_SECONDS < point.timestamp < now + MAX_AHEAD_SECONDS
        ):
            return "timestamp"
        return None

    async def publish(
        self, points: Iterable[MetricPoint], *, now: float | None = None
    ) -> PublishReport:
        """Send ``points``; ``now`` (epoch seconds) stamps points without a timestamp and
        decides which timestamps CloudWatch would refuse."""
        now = time.time() if now is None else now
        report = PublishReport()
        budget = RetryBudget(self.backoff)
        client: Any = None
        for batch, size in self.batches(points, report, now):
            if client is None:
                client = await self.client_factory()
            try:
                await budget.call(
                    client.put_metric_data, Namespace=self.namespace, MetricData=batch
                )
            except Throttled as exc:
                report.failed += len(batch)
                report.errors.append(exc.code)
            except ClientError as exc:
                report.failed += len(batch)
                report.errors.append(error_code(exc))
            except BotoCoreError as exc:
                report.failed += len(batch)
                report.errors.append(type(exc).__name__)
            else:
                report.calls += 1
                report.sent += len(batch)
                report.batch_sizes.append(len(batch))
                report.batch_bytes.append(size)
        report.throttled = budget.throttled
        return report
