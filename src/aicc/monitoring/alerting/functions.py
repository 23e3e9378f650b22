"""PromQL's range and histogram functions over plain sample lists, as Prometheus 3 computes
them (``promql/functions.go`` and ``promql/quantile.go``)."""

from __future__ import annotations

import math
from collections.abc import Sequence

_SMALL_DELTA = 1e-12


def extrapolated_rate(
    times: Sequence[float],
    values: Sequence[float],
    start: int,
    end: int,
    *,
    range_start: float,
    range_end: float,
    is_rate: bool,
    resets: bool = True,
) -> float | None:
    """``rate``/``increase`` of the counter points ``[start, end)`` in the range
    ``(range_start, range_end]``: counter resets add the value before the drop, and the
    result is extrapolated towards the range's edges as Prometheus does (at most half an
    average sample gap past a series that starts or ends inside the range, never below zero).
    None with fewer than two points. ``resets`` False skips looking for counter resets (the
    caller knows there are none in the range)."""
    count = end - start
    if count < 2:
        return None
    first, last = values[start], values[end - 1]
    result = last - first
    if resets:
        previous = first
        for i in range(start + 1, end):
            current = values[i]
            if current < previous:
                result += previous
            previous = current
    sampled = times[end - 1] - times[start]
    if sampled <= 0:
        return None
    average_gap = sampled / (count - 1)
    threshold = average_gap * 1.1
    to_start = times[start] - range_start
    to_end = range_end - times[end - 1]
    if to_start >= threshold:
        to_start = average_gap / 2
    if result > 0 and first >= 0:
        to_zero = sampled * (first / result)
        to_start = min(to_start, to_zero)
    if to_end >= threshold:
        to_end = average_gap / 2
    factor = (sampled + to_start + to_end) / sampled
    if is_rate:
        factor /= range_end - range_start
    return result * factor


def bucket_quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float:
    """``histogram_quantile(q, ...)`` over classic buckets ``(upper_bound, cumulative_count)``:
    NaN without a ``+Inf`` bucket or observations; linear interpolation inside the bucket that
    holds the rank; the highest finite bound when the rank falls in ``+Inf``."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    ordered = sorted(buckets)
    if not ordered or ordered[-1][0] != math.inf:
        return math.nan
    bounds: list[float] = []
    counts: list[float] = []
    for upper, count in ordered:
        if bounds and bounds[-1] == upper:
            counts[-1] += count
        else:
            bounds.append(upper)
            counts.append(count)
    last = len(counts) - 1
    if last < 1:
        return math.nan
    _ensure_monotonic(counts)
    observations = counts[last]
    if observations == 0:
        return math.nan
    rank = q * observations
    b = last
    for i in range(last):
        if counts[i] >= rank:
            b = i
            break
    if b == last:
        return bounds[last - 1]
    if b == 0 and bounds[0] <= 0:
        return bounds[0]
    bucket_start = 0.0
    bucket_end, count = bounds[b], counts[b]
    if b > 0:
        bucket_start = bounds[b - 1]
        count -= counts[b - 1]
        rank -= counts[b - 1]
    return bucket_start + (bucket_end - bucket_start) * (rank / count)


def _ensure_monotonic(counts: list[float]) -> None:
    """Prometheus' ``ensureMonotonicAndIgnoreSmallDeltas``: counts never go down (rates of
    separately scraped buckets can), and relative deltas below 1e-12 are float noise (both
    are replaced by the count before them)."""
    previous = counts[0]
    for i in range(1, len(counts)):
        current = counts[i]
        if current == previous:
            continue
        if current < previous or abs(current - previous) < _SMALL_DELTA * (
            abs(current) + abs(previous)
        ):
            counts[i] = previous
            continue
        previous = current


def parse_bound(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None
