from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import boto3
import pytest
from botocore.serialize import create_serializer
from moto.cloudwatch.exceptions import CloudWatchException
from moto.cloudwatch.models import CloudWatchBackend

from aicc.monitoring.connect import Backoff, MetricPoint
from tests.monitoring.connect.conftest import CloudWatch
from tests.monitoring.connect.fakes import REGION

FAST = Backoff(attempts=4, base=0.001, cap=0.01, budget=1.0)


def wire_sizes(params: dict[str, Any]) -> dict[str, int]:
    """The request body's size in each protocol botocore speaks to CloudWatch."""
    model = boto3.session.Session().client("cloudwatch", region_name=REGION).meta.service_model
    operation = model.operation_model("PutMetricData")
    sizes = {}
    for protocol in ("smithy-rpc-v2-cbor", "json", "query"):
        body = create_serializer(protocol).serialize_to_request(params, operation)["body"]
        sizes[protocol] = len(urlencode(body) if isinstance(body, dict) else body)
    return sizes


async def test_2500_points_go_in_three_calls_of_at_most_1000_and_all_arrive(
    cloudwatch: CloudWatch,
) -> None:
    now = time.time()
    points = [
        MetricPoint("aicc_connect_agents_online", 1.0, "Count", {"queue": f"Q{n % 50}"}, now)
        for n in range(2500)
    ]

    report = await cloudwatch.publisher().publish(points, now=now)

    assert report.ok and report.sent == 2500 and report.calls == 3
    assert [len(r["MetricData"]) for r in cloudwatch.requests] == [1000, 1000, 500]
    assert all(max(wire_sizes(r).values()) <= 1_000_000 for r in cloudwatch.requests)
    stats = cloudwatch.statistics("aicc_connect_agents_online", {"queue": "Q7"})
    assert stats["SampleCount"] == 50 and stats["Sum"] == 50


async def test_large_dimensions_split_batches_under_one_megabyte_in_every_protocol(
    cloudwatch: CloudWatch,
) -> None:
    now = time.time()
    wide = {f"dimension_{d:02}": "상담" * 50 for d in range(29)}
    points = [
        MetricPoint("aicc_wide", float(n), "None", {**wide, "n": str(n)}, now) for n in range(100)
    ] + [MetricPoint("aicc_narrow", 1.0, "Count", {}, now) for _ in range(100)]

    report = await cloudwatch.publisher().publish(points, now=now)

    assert report.ok and report.sent == 200
    assert report.calls > 1
    for request in cloudwatch.requests:
        sizes = wire_sizes(request)
        assert max(sizes.values()) <= 1_000_000, sizes
    biggest = max(cloudwatch.requests, key=lambda r: wire_sizes(r)["query"])
    assert wire_sizes(biggest)["query"] > 500_000  # batches are filled, not one datum each
    assert len({m["MetricName"] + repr(m.get("Dimensions")) for m in cloudwatch.metrics()}) == 101


async def test_dimensions_units_and_timestamps_arrive_as_given(cloudwatch: CloudWatch) -> None:
    now = time.time()
    points = [
        MetricPoint(
            "aicc_connect_oldest_contact_age_seconds",
            95.0,
            "Seconds",
            {"queue": "상담 Sales", "channel": "VOICE"},
            now - 60,
        ),
        MetricPoint("system_cpu_usage_percent", 42.5, "Percent", {}, None),
    ]

    report = await cloudwatch.publisher().publish(points, now=now)

    assert report.ok and report.sent == 2
    [request] = cloudwatch.requests
    assert request["MetricData"][0]["Timestamp"] == datetime.fromtimestamp(now - 60, UTC)
    assert request["MetricData"][1]["Timestamp"] == datetime.fromtimestamp(now, UTC)
    age = cloudwatch.statistics(
        "aicc_connect_oldest_contact_age_seconds", {"queue": "상담 Sales", "channel": "VOICE"}
    )
    assert age == {"Sum": 95.0, "SampleCount": 1.0, "Maximum": 95.0, "Unit": "Seconds"}
    assert cloudwatch.statistics("system_cpu_usage_percent", {})["Unit"] == "Percent"
    dims = {
        m["MetricName"]: {d["Name"]: d["Value"] for d in m.get("Dimensions", [])}
        for m in cloudwatch.metrics()
    }
    assert dims == {
        "aicc_connect_oldest_contact_age_seconds": {"queue": "상담 Sales", "channel": "VOICE"},
        "system_cpu_usage_percent": {},
    }


async def test_values_and_timestamps_cloudwatch_refuses_are_skipped_and_counted(
    cloudwatch: CloudWatch,
) -> None:
    now = time.time()
    points = [
        MetricPoint("m", math.nan),
        MetricPoint("m", math.inf),
        MetricPoint("m", 2.0**400),
        MetricPoint("m", 1.0, timestamp=now - 15 * 86400),
        MetricPoint("m", 1.0, timestamp=now + 3 * 3600),
        MetricPoint("m", 7.0, timestamp=now),
    ]

    report = await cloudwatch.publisher().publish(points, now=now)

    assert report.ok and report.sent == 1
    assert report.skipped == {"not_finite": 2, "out_of_range": 1, "timestamp": 2}
    assert cloudwatch.statistics("m", {})["Sum"] == 7.0


async def test_nothing_to_send_makes_no_call(cloudwatch: CloudWatch) -> None:
    report = await cloudwatch.publisher().publish([MetricPoint("m", math.nan)])

    assert report.calls == 0 and report.sent == 0 and cloudwatch.recorder is None


THROTTLING_OUTSIDE_THE_MODEL = pytest.mark.filterwarnings(
    # CloudWatch's throttling error is a common AWS error, not in its service model; moto
    # serializes it all the same, after a warning.
    "ignore:Exception.CloudWatchException. with code Throttling:UserWarning"
)


def throttle_first(monkeypatch: pytest.MonkeyPatch, times: int) -> list[int]:
    """Moto answers ``Throttling`` to the first ``times`` PutMetricData calls."""
    real = CloudWatchBackend.put_metric_data
    seen = [0]

    def put_metric_data(backend: CloudWatchBackend, *args: Any, **kwargs: Any) -> None:
        seen[0] += 1
        if seen[0] <= times:
            raise CloudWatchException("Throttling", "Rate exceeded")
        real(backend, *args, **kwargs)

    monkeypatch.setattr(CloudWatchBackend, "put_metric_data", put_metric_data)
    return seen


@THROTTLING_OUTSIDE_THE_MODEL
async def test_a_throttled_batch_is_retried_with_backoff_and_sent(
    cloudwatch: CloudWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = throttle_first(monkeypatch, 2)

    report = await cloudwatch.publisher().publish([MetricPoint("m", 3.0)])

    assert report.ok and report.sent == 1 and report.throttled == 2
    assert seen[0] == 3
    assert cloudwatch.statistics("m", {})["Sum"] == 3.0


@THROTTLING_OUTSIDE_THE_MODEL
async def test_a_batch_throttled_past_its_attempts_fails_and_the_next_is_still_sent(
    cloudwatch: CloudWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    throttle_first(monkeypatch, 3)
    publisher = cloudwatch.publisher(
        backoff=Backoff(attempts=3, base=0.001, cap=0.001), max_data_per_call=1
    )

    report = await publisher.publish([MetricPoint("first", 1.0), MetricPoint("second", 2.0)])

    assert report.failed == 1 and report.errors == ["Throttling"]
    assert report.sent == 1 and not report.ok
    assert cloudwatch.statistics("first", {}) == {}
    assert cloudwatch.statistics("second", {})["Sum"] == 2.0


async def test_a_refused_batch_is_reported_with_its_aws_code(
    cloudwatch: CloudWatch, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(backend: CloudWatchBackend, *args: Any, **kwargs: Any) -> None:
        raise CloudWatchException("InvalidParameterValue", "no")

    monkeypatch.setattr(CloudWatchBackend, "put_metric_data", refuse)

    report = await cloudwatch.publisher().publish([MetricPoint("m", 1.0)])

    assert report.errors == ["InvalidParameterValue"] and report.failed == 1
    assert report.throttled == 0 and len(cloudwatch.requests) == 1


def test_a_point_cloudwatch_could_never_take_is_refused_when_made() -> None:
    with pytest.raises(ValueError, match="30 dimensions"):
        MetricPoint("m", 1.0, "Count", {f"d{n}": "v" for n in range(31)})
    with pytest.raises(ValueError, match=r"1\.\.1024"):
        MetricPoint("m", 1.0, "Count", {"queue": ""})
    with pytest.raises(ValueError, match="not a CloudWatch unit"):
        MetricPoint("m", 1.0, "percent")
