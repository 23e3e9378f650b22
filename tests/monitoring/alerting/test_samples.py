"""The sample store: ingestion, each query against hand-computed values, bounded memory."""

from __future__ import annotations

import pytest

from aicc.monitoring.alerting import Matcher, SampleStore

SCRAPE = """\
# HELP aicc_api_requests_total Requests
# TYPE aicc_api_requests_total counter
aicc_api_requests_total{route="/a",service="recording"} 5.0
aicc_api_requests_total{route="/b",service="other"} 7.0
aicc_api_requests_created{route="/a",service="recording"} 1.7e9
# HELP aicc_api_duration_seconds Duration
# TYPE aicc_api_duration_seconds histogram
aicc_api_duration_seconds_bucket{le="0.5",route="/a"} 1.0
aicc_api_duration_seconds_bucket{le="+Inf",route="/a"} 2.0
aicc_api_duration_seconds_count{route="/a"} 2.0
aicc_api_duration_seconds_sum{route="/a"} 1.5
# HELP system_cpu_usage_percent CPU
# TYPE system_cpu_usage_percent gauge
system_cpu_usage_percent 42.5
"""


def key(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


def counter(store: SampleStore, name: str, points: dict[float, float], **labels: str) -> None:
    for at, value in points.items():
        store.add(name, labels, value, at)


def test_ingest_adds_target_labels_and_keeps_a_conflicting_exposed_value_as_exported() -> None:
    store = SampleStore()
    kept = store.ingest(SCRAPE, 100.0, {"service": "recording"})

    assert kept == 7
    assert store.latest("aicc_api_requests_total", now=100.0) == {
        key(route="/a", service="recording"): 5.0,
        key(route="/b", service="recording", exported_service="other"): 7.0,
    }
    assert store.latest("system_cpu_usage_percent", now=100.0) == {key(service="recording"): 42.5}
    assert store.latest("aicc_api_requests_created", now=100.0) == {}


def test_ingest_records_kinds_and_the_names_rules_can_use() -> None:
    store = SampleStore()
    store.ingest(SCRAPE, 100.0)
    store.add("aicc_connect_agents_online", {"queue": "q1"}, 3, 100.0)

    assert store.kind("aicc_api_duration_seconds_bucket") == "histogram"
    assert store.kind("aicc_api_requests_total") == "counter"
    assert store.kind("aicc_connect_agents_online") == "gauge"
    assert store.kind("never_seen") is None
    names = store.metric_names()
    assert {"aicc_api_duration_seconds", "aicc_api_requests_total"} <= names
    assert {"aicc_api_duration_seconds_count", "aicc_connect_agents_online"} <= names
    assert "aicc_api_duration_seconds_bucket" not in names


def test_matchers_select_series_with_prometheus_semantics() -> None:
    store = SampleStore()
    store.add("m", {"service": "recording", "route": "/a"}, 1, 10.0)
    store.add("m", {"service": "auth"}, 2, 10.0)

    def values(*matchers: str) -> list[float]:
        found = store.latest("m", [Matcher.parse(text) for text in matchers], now=10.0)
        return sorted(found.values())

    assert values('service="recording"') == [1.0]
    assert values('service!="recording"') == [2.0]
    assert values('service=~"rec.*"') == [1.0]
    assert values('service=~"rec"') == []
    assert values('service!~"rec.*"') == [2.0]
    assert values('route=""') == [2.0]
    assert values("route!=") == [1.0]


def test_matcher_parse_rejects_bad_syntax_and_bad_regex() -> None:
    with pytest.raises(ValueError, match="invalid matcher"):
        Matcher.parse("no operator")
    with pytest.raises(ValueError, match="regular expression"):
        Matcher.parse('a=~"("')
    assert Matcher.parse(r'a="x\"y"') == Matcher("a", "=", 'x"y')


def test_latest_is_absent_once_the_newest_point_is_lookback_old() -> None:
    store = SampleStore()
    store.add("g", {}, 1.0, 1000.0)
    store.add("g", {}, 2.0, 1060.0)

    assert store.latest("g", now=1060.0) == {(): 2.0}
    assert store.latest("g", now=1050.0) == {(): 1.0}
    assert store.latest("g", now=1359.0) == {(): 2.0}
    assert store.latest("g", now=1360.0) == {}
    assert store.latest("g", now=1100.0, max_age=30.0) == {}
    assert store.latest("g", now=999.0) == {}


def test_a_series_missing_from_its_targets_next_scrape_is_stale_at_once() -> None:
    store = SampleStore()
    store.ingest("a 1\nb 1\n", 100.0, {"service": "x"})
    store.ingest("a 2\n", 115.0, {"service": "x"})
    store.ingest("b 5\n", 115.0, {"service": "y"})

    assert store.latest("a", now=115.0) == {key(service="x"): 2.0}
    assert store.latest("b", now=115.0) == {key(service="y"): 5.0}
    assert store.latest("b", now=110.0) == {key(service="x"): 1.0}

    store.target_down({"service": "x"}, 130.0)
    assert store.latest("a", now=130.0) == {}
    store.ingest("a 3\n", 145.0, {"service": "x"})
    assert store.latest("a", now=145.0) == {key(service="x"): 3.0}


def test_avg_over_time_averages_points_inside_the_left_open_window() -> None:
    store = SampleStore()
    counter(store, "g", {0: 1000.0, 15: 10.0, 30: 20.0, 45: 30.0, 60: 90.0})

    assert store.avg_over_time("g", window=60, now=60.0) == {(): 37.5}
    assert store.avg_over_time("g", window=61, now=60.0) == {(): pytest.approx(230.0)}


def test_increase_and_rate_extrapolate_to_the_window_edges() -> None:
    store = SampleStore()
    counter(store, "c_total", {15: 15.0, 30: 30.0, 45: 45.0, 60: 60.0})

    # 45 counted over 45 s of samples, extrapolated to the 60 s window: 45 × 60/45.
    assert store.increase("c_total", window=60, now=60.0) == {(): pytest.approx(60.0)}
    assert store.rate("c_total", window=60, now=60.0) == {(): pytest.approx(1.0)}


def test_increase_adds_the_value_before_a_counter_reset() -> None:
    store = SampleStore()
    counter(store, "c_total", {15: 100.0, 30: 110.0, 45: 5.0, 60: 15.0})

    # 10 + 5 + 10 = 25 over 45 s, extrapolated to 60 s.
    assert store.increase("c_total", window=60, now=60.0) == {(): pytest.approx(25 * 4 / 3)}


def test_a_series_starting_inside_the_window_extrapolates_half_a_gap_only() -> None:
    store = SampleStore()
    counter(store, "c_total", {240: 10.0, 255: 20.0, 270: 30.0, 285: 40.0, 300: 50.0})

    # 40 over 60 s of samples plus half the 15 s gap before the first: 40 × 67.5/60.
    assert store.increase("c_total", window=300, now=300.0) == {(): pytest.approx(45.0)}
    assert store.rate("c_total", window=300, now=300.0) == {(): pytest.approx(0.15)}


def test_a_reset_made_by_a_replaced_point_is_still_counted() -> None:
    store = SampleStore()
    counter(store, "c_total", {15: 100.0, 30: 110.0, 45: 120.0})
    store.add("c_total", {}, 5.0, 45.0)
    store.add("c_total", {}, 15.0, 60.0)

    assert store.increase("c_total", window=60, now=60.0) == {(): pytest.approx(25 * 4 / 3)}


def test_rate_needs_two_points_in_the_window() -> None:
    store = SampleStore()
    counter(store, "c_total", {0: 1.0, 100: 2.0})

    assert store.rate("c_total", window=60, now=100.0) == {}


def add_histogram(
    store: SampleStore, counts: dict[str, float], total: float, **labels: str
) -> None:
    """Buckets grow linearly from 1000 to 1000 + count over t = 15..60."""
    for step, at in enumerate((15.0, 30.0, 45.0, 60.0)):
        share = step / 3
        for bound, count in counts.items():
            store.add("h_bucket", {**labels, "le": bound}, 1000 + count * share, at)
        store.add("h_count", labels, 1000 + counts["+Inf"] * share, at)
        store.add("h_sum", labels, 500 + total * share, at)


def test_histogram_quantile_interpolates_inside_the_bucket_of_the_rank() -> None:
    store = SampleStore()
    add_histogram(store, {"0.1": 10, "0.5": 60, "1": 80, "+Inf": 100}, 30.0, service="a")

    # rank 50 lies in (0.1, 0.5] holding 50 of which 40 below it: 0.1 + 0.4 × 40/50.
    assert store.histogram_quantile(0.5, "h", window=60, now=60.0) == {
        key(service="a"): pytest.approx(0.42)
    }
    # rank 90 lies in +Inf: the highest finite bound.
    assert store.histogram_quantile(0.9, "h", window=60, now=60.0) == {
        key(service="a"): pytest.approx(1.0)
    }


def test_histogram_quantile_sums_buckets_across_series_by_the_given_labels() -> None:
    store = SampleStore()
    add_histogram(store, {"0.1": 10, "0.5": 60, "1": 80, "+Inf": 100}, 30.0, service="a")
    add_histogram(store, {"0.1": 0, "0.5": 20, "1": 100, "+Inf": 100}, 70.0, service="b")

    per_series = store.histogram_quantile(0.5, "h", window=60, now=60.0)
    assert per_series == {
        key(service="a"): pytest.approx(0.42),
        key(service="b"): pytest.approx(0.5 + 0.5 * 30 / 80),
    }
    # Summed: 10, 80, 180, 200; rank 100 in (0.5, 1] holding 100, 20 of them below it.
    combined = store.histogram_quantile(0.5, "h", window=60, now=60.0, by=[])
    assert combined == {(): pytest.approx(0.6)}
    selected = store.histogram_quantile(
        0.5, "h", [Matcher.parse('service="b"')], window=60, now=60.0, by=["service"]
    )
    assert selected == {key(service="b"): pytest.approx(0.6875)}


def test_histogram_quantile_honours_matchers_on_le() -> None:
    store = SampleStore()
    add_histogram(store, {"0.1": 10, "0.5": 60, "1": 80, "+Inf": 100}, 30.0, service="a")

    # Without the 0.5 bucket, rank 50 lies in (0.1, 1] holding 70, 40 of them below it.
    without = store.histogram_quantile(0.5, "h", [Matcher.parse('le!="0.5"')], window=60, now=60.0)
    assert without == {key(service="a"): pytest.approx(0.1 + 0.9 * 40 / 70)}


def test_histogram_avg_is_the_rate_of_sum_over_the_rate_of_count() -> None:
    store = SampleStore()
    add_histogram(store, {"+Inf": 100}, 30.0, service="a")
    add_histogram(store, {"+Inf": 100}, 70.0, service="b")

    assert store.histogram_avg("h", window=60, now=60.0) == {
        key(service="a"): pytest.approx(0.3),
        key(service="b"): pytest.approx(0.7),
    }
    assert store.histogram_avg("h", window=60, now=60.0, by=[]) == {(): pytest.approx(0.5)}


def test_query_aggregates_by_labels_with_sum_or_avg() -> None:
    store = SampleStore()
    store.add("g", {"queue": "q1", "channel": "VOICE"}, 3, 10.0)
    store.add("g", {"queue": "q1", "channel": "CHAT"}, 4, 10.0)
    store.add("g", {"queue": "q2", "channel": "VOICE"}, 10, 10.0)

    assert store.query("latest", "g", window=60, now=10.0, by=["queue"]) == {
        key(queue="q1"): 7.0,
        key(queue="q2"): 10.0,
    }
    assert store.query("avg", "g", window=60, now=10.0, by=["channel"]) == {
        key(channel="VOICE"): 6.5,
        key(channel="CHAT"): 4.0,
    }
    assert len(store.query("latest", "g", window=60, now=10.0)) == 3


def test_histogram_rate_counts_observations() -> None:
    store = SampleStore()
    add_histogram(store, {"+Inf": 90}, 30.0, service="a")

    result = store.query("rate", "h", window=60, now=60.0, histogram=True)
    assert result == {key(service="a"): pytest.approx(90 * 4 / 3 / 60)}


def test_query_results_follow_new_writes_at_the_same_time() -> None:
    store = SampleStore()
    store.add("g", {}, 1.0, 10.0)
    assert store.query("latest", "g", window=60, now=20.0) == {(): 1.0}

    store.add("g", {}, 5.0, 20.0)
    assert store.query("latest", "g", window=60, now=20.0) == {(): 5.0}


def test_a_point_at_the_same_time_replaces_and_an_older_one_is_dropped() -> None:
    store = SampleStore()
    store.add("g", {}, 1.0, 10.0)
    store.add("g", {}, 2.0, 10.0)
    store.add("g", {}, 3.0, 5.0)

    assert store.latest("g", now=10.0) == {(): 2.0}
    assert store.stats()["points"] == 1


def test_points_per_series_are_capped_keeping_the_newest() -> None:
    store = SampleStore(max_points_per_series=10)
    for i in range(100):
        store.add("g", {}, float(i), float(i))

    assert store.stats()["points"] == 10
    assert store.avg_over_time("g", window=1000, now=99.0) == {(): pytest.approx(94.5)}


def test_points_older_than_the_retention_are_dropped() -> None:
    store = SampleStore(retention_seconds=3900)
    for i in range(400):
        store.add("g", {}, float(i), i * 15.0)

    stats = store.stats()
    assert stats["points"] == 260
    assert store.avg_over_time("g", window=10_000, now=399 * 15.0) == {
        (): pytest.approx(sum(range(140, 400)) / 260)
    }


def test_series_beyond_the_cap_evict_the_least_recently_written() -> None:
    store = SampleStore(max_series=32)
    for i in range(40):
        store.add("g", {"n": str(i)}, 1.0, float(i))

    present = {dict(labels)["n"] for labels in store.select("g")}
    assert store.stats()["series"] <= 32
    assert "39" in present
    assert "0" not in present


def test_series_whose_points_all_aged_out_are_removed() -> None:
    store = SampleStore(retention_seconds=600)
    store.add("old", {}, 1.0, 0.0)
    store.add("new", {}, 1.0, 50.0)

    assert store.prune(620.0) == 1
    assert store.select("old") == []
    assert store.select("new") == [()]


def test_selection_by_label_forgets_removed_series() -> None:
    store = SampleStore(retention_seconds=600)
    store.add("g", {"queue": "q1", "n": "old"}, 1.0, 0.0)
    store.add("g", {"queue": "q1", "n": "new"}, 2.0, 50.0)
    queue = [Matcher.parse("queue=q1")]
    assert len(store.select("g", queue)) == 2

    store.prune(620.0)
    assert store.select("g", queue) == [key(n="new", queue="q1")]
    store.add("g", {"queue": "q1", "n": "old"}, 3.0, 630.0)
    assert store.latest("g", queue, now=630.0, max_age=600) == {
        key(n="new", queue="q1"): 2.0,
        key(n="old", queue="q1"): 3.0,
    }


def test_a_staleness_marker_hides_a_series_until_its_next_point() -> None:
    store = SampleStore()
    store.add("aicc_connect_contacts_in_queue", {"queue": "q1"}, 4.0, 100.0)
    store.mark_stale("aicc_connect_contacts_in_queue", {"queue": "q1"}, 115.0)

    assert store.latest("aicc_connect_contacts_in_queue", now=110.0) == {key(queue="q1"): 4.0}
    assert store.latest("aicc_connect_contacts_in_queue", now=115.0) == {}
    store.add("aicc_connect_contacts_in_queue", {"queue": "q1"}, 6.0, 130.0)
    assert store.latest("aicc_connect_contacts_in_queue", now=130.0) == {key(queue="q1"): 6.0}


def test_writes_prune_aged_out_series_once_a_minute() -> None:
    store = SampleStore(retention_seconds=600)
    store.add("old", {}, 1.0, 0.0)
    store.add("new", {}, 1.0, 900.0)

    assert store.select("old") == []
    assert store.stats()["series"] == 1


def test_an_hour_of_15_second_points_costs_about_16_bytes_a_point() -> None:
    store = SampleStore()
    for series in range(50):
        store.add("g", {"n": str(series)}, 0.0, 0.0)
    empty = store.stats()["bytes"]
    for step in range(1, 241):
        for series in range(50):
            store.add("g", {"n": str(series)}, float(step), step * 15.0)

    stats = store.stats()
    assert stats["points"] == 50 * 241
    per_point = (stats["bytes"] - empty) / (50 * 240)
    assert 15 <= per_point <= 20
