"""The queries rules are evaluated with, over the sample store's series (Prometheus 3
semantics; see ``samples``), memoized per evaluation cycle."""

from __future__ import annotations

import math
from bisect import bisect_right
from collections.abc import Sequence
from typing import Literal

from aicc.monitoring.alerting.functions import bucket_quantile, extrapolated_rate
from aicc.monitoring.alerting.labels import Labels, Matcher
from aicc.monitoring.alerting.series import (
    Series,
    SeriesIndex,
    avg_by,
    sample_range,
    sum_by,
)

Aggregation = Literal["latest", "avg", "rate", "increase", "p50", "p90", "p95", "p99"]
QUANTILES: dict[str, float] = {"p50": 0.5, "p90": 0.9, "p95": 0.95, "p99": 0.99}

_Buckets = dict[Labels, list[tuple[float, float]]]


class Queries:
    """Query methods of :class:`~aicc.monitoring.alerting.samples.SampleStore`. Results are
    memoized per ``(writes so far, now)``: rules sharing a query cost one computation per
    cycle, and any write starts afresh."""

    lookback_seconds: float
    _index: SeriesIndex
    _generation: int
    _memo_stamp: tuple[int, float]
    _memo: dict[tuple[object, ...], dict[Labels, float]]
    _rate_memo: dict[tuple[int, float, bool], float | None]
    _bucket_memo: dict[tuple[object, ...], _Buckets]

    def select(self, name: str, matchers: Sequence[Matcher] = ()) -> list[Labels]:
        """The label sets of the series named ``name`` that match every matcher."""
        return [s.labels for s in self._index.select(name, tuple(matchers))]

    def latest(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        *,
        now: float,
        max_age: float | None = None,
    ) -> dict[Labels, float]:
        """The newest value at or before ``now`` of each matching series; series whose newest
        point is at least ``max_age`` old (default: the 5-minute lookback) or that went stale
        are absent."""
        return {s.labels: v for s, v in self._latest(name, tuple(matchers), now, max_age)}

    def avg_over_time(
        self, name: str, matchers: Sequence[Matcher] = (), *, window: float, now: float
    ) -> dict[Labels, float]:
        return {s.labels: v for s, v in self._averages(name, tuple(matchers), window, now)}

    def rate(
        self, name: str, matchers: Sequence[Matcher] = (), *, window: float, now: float
    ) -> dict[Labels, float]:
        """Per-second ``rate()`` of each matching counter series over the window."""
        return {s.labels: v for s, v in self._rates(name, tuple(matchers), window, now, True)}

    def increase(
        self, name: str, matchers: Sequence[Matcher] = (), *, window: float, now: float
    ) -> dict[Labels, float]:
        return {s.labels: v for s, v in self._rates(name, tuple(matchers), window, now, False)}

    def histogram_quantile(
        self,
        q: float,
        name: str,
        matchers: Sequence[Matcher] = (),
        *,
        window: float,
        now: float,
        by: Sequence[str] | None = None,
    ) -> dict[Labels, float]:
        """``histogram_quantile(q, sum by (le, <by>) (rate(<name>_bucket[window])))``; with
        ``by`` None every label but ``le`` is kept. NaN results are left out."""
        out: dict[Labels, float] = {}
        for key, buckets in self._buckets(name, tuple(matchers), window, now, by).items():
            result = bucket_quantile(q, buckets)
            if not math.isnan(result):
                out[key] = result
        return out

    def histogram_avg(
        self,
        name: str,
        matchers: Sequence[Matcher] = (),
        *,
        window: float,
        now: float,
        by: Sequence[str] | None = None,
    ) -> dict[Labels, float]:
        """``rate(<name>_sum[w]) / rate(<name>_count[w])``, summed by ``by`` first; groups
        without observations in the window are left out."""
        ms = tuple(matchers)
        sums = sum_by(self._rates(f"{name}_sum", ms, window, now, True), by)
        counts = sum_by(self._rates(f"{name}_count", ms, window, now, True), by)
        return {k: sums[k] / c for k, c in counts.items() if c > 0 and k in sums}

    def query(
        self,
        aggregation: Aggregation,
        name: str,
        matchers: Sequence[Matcher] = (),
        *,
        window: float,
        now: float,
        by: Sequence[str] | None = None,
        histogram: bool = False,
    ) -> dict[Labels, float]:
        """What a rule compares with its threshold, memoized until the next write or another
        ``now``. ``by`` aggregates across series (``sum`` for latest, rate and increase,
        ``avg`` for avg); None keeps every series. With ``histogram``, ``avg`` is the mean
        observation and ``rate``/``increase`` count observations (``<name>_count``)."""
        ms = tuple(matchers)
        key = (aggregation, name, ms, window, None if by is None else tuple(by), histogram)
        memo = self._memo_for(now)
        cached = memo.get(key)
        if cached is not None:
            return cached
        result: dict[Labels, float]
        if aggregation in QUANTILES:
            q = QUANTILES[aggregation]
            result = self.histogram_quantile(q, name, ms, window=window, now=now, by=by)
        elif aggregation == "latest":
            result = sum_by(self._latest(name, ms, now, None), by)
        elif aggregation == "avg" and histogram:
            result = self.histogram_avg(name, ms, window=window, now=now, by=by)
        elif aggregation == "avg":
            result = avg_by(self._averages(name, ms, window, now), by)
        else:
            source = f"{name}_count" if histogram else name
            result = sum_by(self._rates(source, ms, window, now, aggregation == "rate"), by)
        memo[key] = result
        return result

    def _memo_for(self, now: float) -> dict[tuple[object, ...], dict[Labels, float]]:
        stamp = (self._generation, now)
        if stamp != self._memo_stamp:
            self._memo_stamp = stamp
            self._memo, self._rate_memo, self._bucket_memo = {}, {}, {}
        return self._memo

    def _latest(
        self, name: str, matchers: tuple[Matcher, ...], now: float, max_age: float | None
    ) -> list[tuple[Series, float]]:
        oldest = now - (self.lookback_seconds if max_age is None else max_age)
        out: list[tuple[Series, float]] = []
        for series in self._index.select(name, matchers):
            times = series.times
            index = len(times) - 1 if times and times[-1] <= now else bisect_right(times, now) - 1
            if index < 0 or times[index] <= oldest:
                continue
            stale = series.stale_at
            if stale is not None and times[index] < stale <= now:
                continue
            out.append((series, series.values[index]))
        return out

    def _averages(
        self, name: str, matchers: tuple[Matcher, ...], window: float, now: float
    ) -> list[tuple[Series, float]]:
        out: list[tuple[Series, float]] = []
        for series in self._index.select(name, matchers):
            start, end = sample_range(series, now, window)
            if end > start:
                out.append((series, math.fsum(series.values[start:end]) / (end - start)))
        return out

    def _rates(
        self, name: str, matchers: tuple[Matcher, ...], window: float, now: float, is_rate: bool
    ) -> list[tuple[Series, float]]:
        out: list[tuple[Series, float]] = []
        self._memo_for(now)
        for series in self._index.select(name, matchers):
            value = self._series_rate(series, window, now, is_rate)
            if value is not None:
                out.append((series, value))
        return out

    def _buckets(
        self,
        name: str,
        matchers: tuple[Matcher, ...],
        window: float,
        now: float,
        by: Sequence[str] | None,
    ) -> dict[Labels, list[tuple[float, float]]]:
        """Bucket rates summed per group. Every bucket series is rated once per cycle into
        its histogram (its labels without ``le``); selections then combine histograms."""
        self._memo_for(now)
        key = (name, matchers, window, None if by is None else tuple(by))
        found = self._bucket_memo.get(key)
        if found is not None:
            return found
        if any(m.name == "le" for m in matchers):
            base = self._histograms(name, matchers, window, now)
            keys: list[Labels] = list(base)
        else:
            base = self._histograms(name, (), window, now)
            keys = self._index.histograms(f"{name}_bucket", matchers)
        if by is None:
            found = {k: base[k] for k in keys if k in base}
        else:
            names = frozenset(by)
            sums: dict[Labels, dict[float, float]] = {}
            for labels in keys:
                target = sums.setdefault(tuple(p for p in labels if p[0] in names and p[1]), {})
                for bound, value in base.get(labels, ()):
                    target[bound] = target.get(bound, 0.0) + value
            found = {k: list(b.items()) for k, b in sums.items() if b}
        self._bucket_memo[key] = found
        return found

    def _histograms(
        self, name: str, matchers: tuple[Matcher, ...], window: float, now: float
    ) -> dict[Labels, list[tuple[float, float]]]:
        key = ("histograms", name, matchers, window)
        found = self._bucket_memo.get(key)
        if found is None:
            found = {}
            start_at = now - window
            for series in self._index.select(f"{name}_bucket", matchers):
                times = series.times
                if series.bound is None or not times:
                    continue
                end = len(times) if times[-1] <= now else bisect_right(times, now)
                start = bisect_right(times, start_at, 0, end)
                if end - start < 2:
                    continue
                value = extrapolated_rate(
                    times,
                    series.values,
                    start,
                    end,
                    range_start=start_at,
                    range_end=now,
                    is_rate=True,
                    resets=series.last_reset > times[start],
                )
                if value is not None:
                    found.setdefault(series.without_le, []).append((series.bound, value))
            self._bucket_memo[key] = found
        return found

    def _series_rate(
        self, series: Series, window: float, now: float, is_rate: bool
    ) -> float | None:
        """Memoized per cycle; callers have called ``_memo_for(now)``."""
        key = (id(series), window, is_rate)
        memo = self._rate_memo
        if key in memo:
            return memo[key]
        times = series.times
        end = len(times) if times and times[-1] <= now else bisect_right(times, now)
        start = bisect_right(times, now - window, 0, end)
        value = extrapolated_rate(
            series.times,
            series.values,
            start,
            end,
            range_start=now - window,
            range_end=now,
            is_rate=is_rate,
            resets=end > start and series.last_reset > times[start],
        )
        memo[key] = value
        return value
