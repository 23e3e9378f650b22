"""Stored series, their index, and the helpers that slice and combine them."""

from __future__ import annotations

import math
from array import array
from bisect import bisect_right
from collections.abc import Iterable, Iterator, Mapping, Sequence

from aicc.monitoring.alerting.functions import parse_bound
from aicc.monitoring.alerting.labels import Labels, Matcher, labels_of


class Series:
    """Points of one series in two ``array('d')`` columns (16 bytes a point)."""

    __slots__ = (
        "bound",
        "label_map",
        "labels",
        "last_reset",
        "name",
        "stale_at",
        "times",
        "values",
        "without_le",
    )

    def __init__(self, name: str, labels: Labels) -> None:
        self.name = name
        self.labels = labels
        self.label_map = dict(labels)
        self.without_le = tuple(p for p in labels if p[0] != "le")
        le = self.label_map.get("le")
        self.bound = None if le is None else parse_bound(le)
        self.times = array("d")
        self.values = array("d")
        self.stale_at: float | None = None
        self.last_reset = -math.inf
        """Time of the newest point lower than the one before it (a counter reset)."""


_Postings = dict[tuple[str, str], dict[Labels, Series]]


class SeriesIndex:
    """Series by name and label set, with the series of every label pair (Prometheus'
    postings) so that equality matchers select without a scan. Selections are cached until a
    series is added or removed."""

    def __init__(self) -> None:
        self._by_name: dict[str, dict[Labels, Series]] = {}
        self._postings: dict[str, _Postings] = {}
        self._cache: dict[tuple[str, tuple[Matcher, ...]], list[Series]] = {}
        self._groups: dict[tuple[str, tuple[Matcher, ...]], list[Labels]] = {}
        self.count = 0

    def get(self, name: str, labels: Labels) -> Series | None:
        by_labels = self._by_name.get(name)
        return None if by_labels is None else by_labels.get(labels)

    def create(self, name: str, labels: Labels) -> Series:
        series = Series(name, labels)
        self._by_name.setdefault(name, {})[labels] = series
        postings = self._postings.setdefault(name, {})
        for pair in labels:
            postings.setdefault(pair, {})[labels] = series
        self.count += 1
        self._cache.clear()
        self._groups.clear()
        return series

    def remove(self, series: Series) -> None:
        name, labels = series.name, series.labels
        by_labels = self._by_name[name]
        del by_labels[labels]
        if not by_labels:
            del self._by_name[name]
            del self._postings[name]
        else:
            postings = self._postings[name]
            for pair in labels:
                members = postings[pair]
                del members[labels]
                if not members:
                    del postings[pair]
        self.count -= 1
        self._cache.clear()
        self._groups.clear()

    def names(self) -> Iterable[str]:
        return self._by_name.keys()

    def __iter__(self) -> Iterator[Series]:
        for by_labels in self._by_name.values():
            yield from by_labels.values()

    def select(self, name: str, matchers: tuple[Matcher, ...]) -> list[Series]:
        key = (name, matchers)
        found = self._cache.get(key)
        if found is None:
            candidates = self._by_name.get(name, {})
            postings = self._postings.get(name, {})
            for matcher in matchers:
                if matcher.op == "=" and matcher.value:
                    members = postings.get((matcher.name, matcher.value), {})
                    if len(members) < len(candidates):
                        candidates = members
            found = [
                s for s in candidates.values() if all(m.matches(s.label_map) for m in matchers)
            ]
            if len(self._cache) >= 10_000:
                self._cache.clear()
            self._cache[key] = found
        return found

    def histograms(self, name: str, matchers: tuple[Matcher, ...]) -> list[Labels]:
        """The distinct label sets without ``le`` of the matching series (for ``_bucket``
        series: the histograms they belong to)."""
        key = (name, matchers)
        found = self._groups.get(key)
        if found is None:
            found = list(dict.fromkeys(s.without_le for s in self.select(name, matchers)))
            if len(self._groups) >= 10_000:
                self._groups.clear()
            self._groups[key] = found
        return found


def merge(exposed: Mapping[str, str], extra: Mapping[str, str]) -> Labels:
    if not extra:
        return labels_of(exposed)
    merged = dict(exposed)
    for name, value in extra.items():
        if name in merged and merged[name] != value:
            merged[f"exported_{name}"] = merged[name]
        merged[name] = value
    return labels_of(merged)


def trim(series: Series, cutoff: float, max_points: int | None) -> bool:
    """Drop points at or before ``cutoff`` and beyond ``max_points``; True when empty."""
    times = series.times
    drop = bisect_right(times, cutoff)
    if max_points is not None:
        drop = max(drop, len(times) - max_points)
    if drop > 0:
        del times[:drop]
        del series.values[:drop]
    return not times


def sample_range(series: Series, now: float, window: float) -> tuple[int, int]:
    times = series.times
    end = len(times) if times and times[-1] <= now else bisect_right(times, now)
    return bisect_right(times, now - window, 0, end), end


def group(series: Series, by: Sequence[str] | None) -> Labels:
    if by is None:
        return series.without_le
    labels = series.label_map
    return tuple((n, labels[n]) for n in sorted(by) if labels.get(n))


def sum_by(values: Iterable[tuple[Series, float]], by: Sequence[str] | None) -> dict[Labels, float]:
    if by is None:
        return {s.labels: v for s, v in values}
    out: dict[Labels, float] = {}
    for series, value in values:
        key = group(series, by)
        out[key] = out.get(key, 0.0) + value
    return out


def avg_by(values: Iterable[tuple[Series, float]], by: Sequence[str] | None) -> dict[Labels, float]:
    if by is None:
        return {s.labels: v for s, v in values}
    sums: dict[Labels, list[float]] = {}
    for series, value in values:
        sums.setdefault(group(series, by), []).append(value)
    return {k: math.fsum(v) / len(v) for k, v in sums.items()}
