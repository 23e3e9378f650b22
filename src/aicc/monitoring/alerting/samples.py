"""Recent samples in memory, the input of rule evaluation.

Each series (a sample name and its label set) keeps its points in two ``array('d')`` columns,
16 bytes a point plus about 1.5 KB per series of Python objects (label sets, index entries).
Points older than ``retention_seconds`` (default 65 minutes: a 1-hour window plus the
5-minute lookback) and beyond ``max_points_per_series`` (default 300: 75 minutes of 15 s
scrapes) are dropped from the front. Past ``max_series`` (default 10,000) new series evict
the 1/16 of series least recently written. So memory stays under about 10,000 × (300 × 16 B
+ 1.5 KB) ≈ 63 MB. Measured (``bench/monitoring_rules.py``): the four services' metrics
scraped every 15 s for an hour are 3,255 series and 777k points in 17 MB, 22 bytes a point.

Query semantics are Prometheus 3's: ranges are ``(now - window, now]``; ``latest`` sees the
newest point no older than the lookback (5 minutes) unless a scrape of its target no longer
had the series (a staleness marker); counters restart on a reset and are extrapolated like
``rate()``/``increase()``; histogram quantiles are ``histogram_quantile(q, sum by (le, ...)
(rate(x_bucket[w])))``. Results are memoized per ``now`` until the next write, so rules
that share a query cost one computation per cycle.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping

from prometheus_client.parser import text_string_to_metric_families

from aicc.monitoring.alerting.labels import Labels, labels_of
from aicc.monitoring.alerting.queries import QUANTILES, Aggregation, Queries
from aicc.monitoring.alerting.series import Series, SeriesIndex, merge, trim

__all__ = ["QUANTILES", "Aggregation", "SampleStore"]

_CUMULATIVE = frozenset({"counter", "histogram", "summary", "gaugehistogram"})


class SampleStore(Queries):
    """Recent samples of every scraped or added series, queried by rule evaluation."""

    def __init__(
        self,
        *,
        retention_seconds: float = 3900.0,
        max_points_per_series: int = 300,
        max_series: int = 10_000,
        lookback_seconds: float = 300.0,
    ) -> None:
        if max_points_per_series < 2 or max_series < 1 or retention_seconds <= 0:
            raise ValueError("the store needs room for two points of one series")
        self.retention_seconds = retention_seconds
        self.max_points_per_series = max_points_per_series
        self.max_series = max_series
        self.lookback_seconds = lookback_seconds
        self._index = SeriesIndex()
        self._kinds: dict[str, str] = {}
        self._family_of: dict[str, str] = {}
        self._targets: dict[Labels, set[Series]] = {}
        self._generation = 0
        self.first_write_at: float | None = None
        """Time of the first write: the store knows nothing of what happened before."""
        self._last_prune = -math.inf
        self._memo_stamp: tuple[int, float] = (-1, math.nan)
        self._memo = {}
        self._rate_memo = {}
        self._bucket_memo = {}

    # writing

    def ingest(self, text: str, at: float, extra_labels: Mapping[str, str] | None = None) -> int:
        """Add one scrape (Prometheus text exposition) taken at ``at``; returns the number of
        samples kept. ``extra_labels`` (such as ``service="recording"``) identify the target
        and win over exposed labels of the same name, whose differing values are kept as
        ``exported_<name>``. Series the target's previous scrape had and this one lacks are
        marked stale at ``at``. ``_created`` samples are skipped; exposed timestamps ignored.
        """
        extra = dict(extra_labels or {})
        seen: set[Series] = set()
        for family in text_string_to_metric_families(text):
            base = family.name.removesuffix("_created")
            if base != family.name and self._kinds.get(base) in _CUMULATIVE:
                continue
            self._kinds[family.name] = family.type
            for sample in family.samples:
                name = sample.name
                if name.endswith("_created") and family.type in _CUMULATIVE:
                    continue
                self._family_of[name] = family.name
                labels = merge(sample.labels, extra)
                seen.add(self._append(name, labels, float(sample.value), at))
        self._mark_stale(labels_of(extra), seen, at)
        self._written(at)
        return len(seen)

    def target_down(self, extra_labels: Mapping[str, str], at: float) -> None:
        """A failed scrape: every series of that target becomes stale at ``at``."""
        self._mark_stale(labels_of(extra_labels), set(), at)
        self._written(at)

    def add(self, name: str, labels: Mapping[str, str], value: float, at: float) -> None:
        """One gauge-like value (psutil figures, Connect snapshots). A point at the time of
        the series' newest replaces it; an older one is dropped, as Prometheus drops
        out-of-order samples."""
        self._family_of.setdefault(name, name)
        self._kinds.setdefault(name, "gauge")
        self._append(name, labels_of(labels), float(value), at)
        self._written(at)

    def mark_stale(self, name: str, labels: Mapping[str, str], at: float) -> None:
        """A staleness marker: the series is absent from ``at`` until its next point (a
        Connect queue that was deleted, a mount point that went away)."""
        series = self._index.get(name, labels_of(labels))
        if series is not None and series.times and series.times[-1] < at:
            series.stale_at = at
            self._written(at)

    def prune(self, now: float) -> int:
        """Drop points older than the retention and series left empty; returns the number of
        series removed. Writes call this once a minute on their own."""
        cutoff = now - self.retention_seconds
        empty = [series for series in self._index if trim(series, cutoff, None)]
        self._remove(empty)
        self._last_prune = now
        return len(empty)

    def _append(self, name: str, labels: Labels, value: float, at: float) -> Series:
        series = self._index.get(name, labels)
        if series is None:
            if self._index.count >= self.max_series:
                ordered = sorted(self._index, key=lambda s: s.times[-1] if s.times else -math.inf)
                self._remove(ordered[: max(1, self.max_series // 16)])
            series = self._index.create(name, labels)
        times = series.times
        if times and at <= times[-1]:
            if at == times[-1]:
                series.values[-1] = value
                if len(times) > 1 and value < series.values[-2]:
                    series.last_reset = at
            return series
        if times and value < series.values[-1]:
            series.last_reset = at
        times.append(at)
        series.values.append(value)
        series.stale_at = None
        if len(times) > self.max_points_per_series or times[0] <= at - self.retention_seconds:
            trim(series, at - self.retention_seconds, self.max_points_per_series)
        return series

    def _remove(self, victims: list[Series]) -> None:
        for series in victims:
            self._index.remove(series)
        if victims:
            gone = set(victims)
            for target, members in self._targets.items():
                self._targets[target] = members - gone

    def _mark_stale(self, target: Labels, seen: set[Series], at: float) -> None:
        for series in self._targets.get(target, set()) - seen:
            if series.times and series.times[-1] < at:
                series.stale_at = at
        self._targets[target] = seen

    def _written(self, at: float) -> None:
        self._generation += 1
        if self.first_write_at is None or at < self.first_write_at:
            self.first_write_at = at
        if at - self._last_prune >= 60:
            self.prune(at)

    # introspection

    def kind(self, name: str) -> str | None:
        """The exposed type (``gauge``, ``counter``, ``histogram``, ...) of a family or sample
        name, or None when never seen."""
        return self._kinds.get(self._family_of.get(name, name))

    def metric_names(self) -> set[str]:
        """Names a rule can refer to: sample names, plus histogram and summary family names
        (without ``_bucket``)."""
        names = {n for n in self._index.names() if not n.endswith("_bucket")}
        names.update(f for f, k in self._kinds.items() if k in ("histogram", "summary"))
        return names

    def stats(self) -> dict[str, int]:
        """Series, points and an estimate of the bytes they hold (arrays, series objects and
        label sets; strings shared with other series not counted)."""
        points = size = 0
        for series in self._index:
            points += len(series.times)
            size += sys.getsizeof(series.times) + sys.getsizeof(series.values)
            size += sys.getsizeof(series) + sys.getsizeof(series.label_map)
            size += sys.getsizeof(series.labels) + sys.getsizeof(series.without_le)
            size += sum(sys.getsizeof(pair) for pair in series.labels) + 100
        return {"series": self._index.count, "points": points, "bytes": size}
