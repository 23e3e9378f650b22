from __future__ import annotations

import pytest

from aicc.core.errors import ValidationFailed
from aicc.monitoring.alertmanager import (
    ZERO_TIME,
    format_duration,
    format_time,
    parse_duration,
    parse_time,
)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("5m", 300),
        ("4h", 14_400),
        ("1h30m", 5_400),
        ("1d", 86_400),
        ("1w", 604_800),
        ("1y", 365 * 86_400),
        ("0s", 0),
        ("0", 0),
        ("1500ms", 1.5),
        ("2d3h4m5s", 2 * 86_400 + 3 * 3_600 + 4 * 60 + 5),
    ],
)
def test_prometheus_durations_parse_to_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_a_yaml_integer_zero_is_a_duration() -> None:
    assert parse_duration(0) == 0


@pytest.mark.parametrize("text", ["", "5", "1m1h", "-1s", "1.5h", "5 m", "1h1h", "10x", True])
def test_invalid_durations_are_422_naming_the_field(text: object) -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_duration(text, ["route", "group_wait"])
    assert caught.value.error_code == "invalid_duration"
    assert caught.value.details[0]["loc"] == ["route", "group_wait"]


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (30, "30s"),
        (300, "5m"),
        (14_400, "4h"),
        (5_400, "1h30m"),
        (86_400, "1d"),
        (604_800, "1w"),
        (90 * 86_400, "90d"),
        (365 * 86_400, "1y"),
        (0, "0s"),
        (1.5, "1s500ms"),
    ],
)
def test_seconds_format_as_prometheus_does(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text
    assert parse_duration(text) == seconds


def test_times_read_rfc3339_with_nanoseconds_and_offsets() -> None:
    ts = parse_time("2026-12-01T20:33:02.105940466Z")
    assert format_time(ts) == "2026-12-01T20:33:02.10594Z"
    assert parse_time("2026-12-02T05:33:02+09:00") == parse_time("2026-12-01T20:33:02Z")
    assert format_time(None) == ZERO_TIME


def test_a_malformed_time_is_422_naming_the_field() -> None:
    with pytest.raises(ValidationFailed) as caught:
        parse_time("yesterday", ["endsAt"])
    assert caught.value.error_code == "invalid_time"
    assert caught.value.details[0]["loc"] == ["endsAt"]
