"""Amazon Connect polling and export: CPU and wall time per cycle, and the exposition cost.

    .venv/bin/python bench/monitoring_connect.py [--queues 100] [--cycles 30] [--output FILE]

The Connect stand-in of the tests (``tests/monitoring/connect/fakes.py``: the real REST-JSON
paths and shapes) runs in a child process, so the CPU measured here is the poller's own:
aiobotocore building, signing and parsing the calls, the snapshot, and the gauges. The instance
has ``--queues`` STANDARD queues × VOICE, CHAT, TASK with every metric set, and
``--agents`` agents over routing profiles of 10 queues each.

- ``poll``: one ``ConnectPoller.poll()`` through the platform's AWS client factory, the
  routing-profile cache warm (as in steady state) — CPU seconds (target < 1 s) and wall ms.
- ``export``: ``ConnectMetrics.update(snapshot)`` plus ``render()`` (the text exposition a
  ``/metrics`` route appends), CPU ms.
- ``cycle``: poll + export; the figure the issue's target is about.
- ``scrape_full_registry``: ``generate_latest`` of a registry holding the spec's metric set
  and the Connect gauges, rendered afresh (what a scrape costs without the cached text).
- ``scrape_cached``: ``render()`` between two polls (the cached text).
- ``cloudwatch_prepare``: ``points_from_snapshot`` and the ``PutMetricData`` batching of all
  of them (no network), CPU ms.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import socket
import statistics
import sys
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import emit, environment, log  # noqa: E402
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest  # noqa: E402

from aicc.core.aws import AwsClients  # noqa: E402
from aicc.core.config import AwsSettings  # noqa: E402
from aicc.monitoring.connect import (  # noqa: E402
    CloudWatchPublisher,
    ConnectMetrics,
    ConnectPoller,
    PublishReport,
    points_from_snapshot,
)

CHANNELS = ("VOICE", "CHAT", "TASK")
ACTIVITIES = ((), ("CONNECTED",), ("ENDED",), ("CONNECTING",))
TARGET_CPU_S = 1.0


def serve_stand_in(queues: int, agents: int, pipe: Connection) -> None:
    """The child: a populated stand-in on a loopback port; sends (url, instance id)."""
    import uvicorn
    from tests.monitoring.connect.fakes import UNITS, FakeConnect

    fake = FakeConnect()
    ids = [fake.add_queue(f"Queue {n:04}") for n in range(queues)]
    for n, queue in enumerate(ids):
        for c, channel in enumerate(CHANNELS):
            fake.set_metrics(queue, channel, **{m: float(n + c + i) for i, m in enumerate(UNITS)})
    profiles = [fake.add_profile(*ids[start : start + 10]) for start in range(0, queues, 10)]
    for n in range(agents):
        fake.add_agent(profiles[n % len(profiles)], "Available", *ACTIVITIES[n % len(ACTIVITIES)])
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    pipe.send((f"http://127.0.0.1:{sock.getsockname()[1]}", fake.instance_id))
    config = uvicorn.Config(fake.provider.app, log_config=None, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def spec_registry() -> CollectorRegistry:
    """The spec's metric set with a realistic number of series (20 routes)."""
    registry = CollectorRegistry()
    for name in ("cpu", "memory", "disk"):
        Gauge(f"system_{name}_usage_percent", name, registry=registry).set(42)
    Gauge("aicc_active_sessions_total", "sessions", registry=registry).set(120)
    Gauge("aicc_db_connections_active", "connections", registry=registry).set(3)
    requests = Counter("aicc_api_requests", "requests", ["route"], registry=registry)
    duration = Histogram("aicc_api_duration_seconds", "duration", ["route"], registry=registry)
    query = Histogram("aicc_db_query_duration_seconds", "query", registry=registry)
    for n in range(20):
        requests.labels(f"/route/{n}").inc(n)
        duration.labels(f"/route/{n}").observe(0.01 * n)
    query.observe(0.002)
    return registry


def summary(values: list[float], scale: float = 1.0, digits: int = 3) -> dict[str, float]:
    ordered = sorted(v * scale for v in values)
    return {
        "median": round(statistics.median(ordered), digits),
        "p90": round(ordered[int(0.9 * (len(ordered) - 1))], digits),
        "max": round(ordered[-1], digits),
    }


def timed(fn: Any) -> tuple[Any, float]:
    started = time.process_time()
    result = fn()
    return result, time.process_time() - started


async def measure(url: str, instance_id: str, cycles: int) -> dict[str, Any]:
    aws = AwsClients(AwsSettings(_env_file=None, AWS_REGION="us-east-1"))
    poller = ConnectPoller(lambda: aws.client("connect", endpoint_url=url), instance_id)
    registry = spec_registry()
    metrics = ConnectMetrics(registry)
    publisher = CloudWatchPublisher(lambda: aws.client("cloudwatch"))
    rows: dict[str, list[float]] = {
        k: [] for k in ("poll_cpu", "poll_wall", "export_cpu", "cycle_cpu", "full", "cached")
    }
    prepare: list[float] = []
    calls = series = points = batches = 0
    try:
        await poller.poll()  # opens the client and fills the routing-profile cache
        for _ in range(cycles):
            wall, cpu = time.perf_counter(), time.process_time()
            snapshot = await poller.poll()
            poll_cpu, poll_wall = time.process_time() - cpu, time.perf_counter() - wall
            body, export_cpu = timed(lambda s=snapshot: (metrics.update(s), metrics.render())[1])
            _, full = timed(lambda: generate_latest(registry))
            _, cached = timed(metrics.render)
            for key, value in zip(
                rows,
                (poll_cpu, poll_wall, export_cpu, poll_cpu + export_cpu, full, cached),
                strict=True,
            ):
                rows[key].append(value)
            found, cost = timed(
                lambda s=snapshot: list(
                    publisher.batches(points_from_snapshot(s), PublishReport(), time.time())
                )
            )
            prepare.append(cost)
            calls = snapshot.calls
            series = body.count(b"\n") - body.count(b"\n#")
            points = sum(len(batch) for batch, _ in found)
            batches = len(found)
    finally:
        await aws.close()
    return {
        "connect_calls_per_poll": calls,
        "series_exported": series,
        "exposition_bytes": len(metrics.render()),
        "poll": {
            "cpu_s": summary(rows["poll_cpu"], digits=4),
            "wall_ms": summary(rows["poll_wall"], 1000, 1),
        },
        "export": {"cpu_ms": summary(rows["export_cpu"], 1000, 2)},
        "cycle": {
            "cpu_s": summary(rows["cycle_cpu"], digits=4),
            "target_cpu_s": TARGET_CPU_S,
            "meets_target": max(rows["cycle_cpu"]) < TARGET_CPU_S,
        },
        "scrape_full_registry": {"cpu_ms": summary(rows["full"], 1000, 2)},
        "scrape_cached": {"cpu_ms": summary(rows["cached"], 1000, 4)},
        "cloudwatch_prepare": {
            "points": points,
            "put_metric_data_calls": batches,
            "cpu_ms": summary(prepare, 1000, 2),
        },
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--agents", type=int, default=300)
    parser.add_argument("--cycles", type=int, default=30)
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
    os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    child = context.Process(target=serve_stand_in, args=(args.queues, args.agents, theirs))
    child.start()
    try:
        url, instance_id = ours.recv()
        log(f"stand-in at {url}: {args.queues} queues × {len(CHANNELS)} channels")
        result = asyncio.run(measure(url, instance_id, args.cycles))
    finally:
        child.terminate()
        child.join(10)
    result["environment"] = environment(
        queues=args.queues, channels=list(CHANNELS), agents=args.agents, cycles=args.cycles
    )
    emit(result, args.output)


if __name__ == "__main__":
    main()
