"""Alert to notification latency: an alert dispatched with ``group_wait`` 0 until a local
Slack stand-in has the message.

    .venv/bin/python bench/monitoring_notify.py [--rounds 50] [--database-url URL
        --redis-url URL] [--output FILE]

The monitoring service runs through its Python API (embedded SQLite and memory cache unless
URLs are given) with one Slack channel and a route with ``group_wait: 0s``. Each round
dispatches a new alert (a new group) as the rule evaluator does when a ``for`` period ends
and waits for the stand-in (the test suite's, on loopback) to receive the message:

- ``dispatch_ms``: ``dispatch()`` — store, route, group, flush and enqueue the job in one
  transaction;
- ``total_ms``: from the call until the stand-in has the message (job claimed, channel
  opened, Slack message built and posted). Target: < 1 s.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from harness import emit, environment, log  # noqa: E402
from tests.monitoring.channels.fakes import FakeSlack  # noqa: E402

from aicc.core.config import load_settings  # noqa: E402
from aicc.monitoring import MonitoringService  # noqa: E402
from aicc.monitoring.alertmanager import Alert, RoutingConfig  # noqa: E402


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return round(ordered[index], 2)


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "p50": _percentile(values, 0.5),
        "p90": _percentile(values, 0.9),
        "p99": _percentile(values, 0.99),
        "max": round(max(values), 2),
        "mean": round(statistics.fmean(values), 2),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    slack = FakeSlack()
    with tempfile.TemporaryDirectory() as data_dir:
        backend: dict[str, Any] = {}
        if args.database_url:
            backend = {
                "database_url": args.database_url,
                "redis_url": args.redis_url,
                "redis.key_prefix": f"bench-{secrets.token_hex(4)}:",
            }
        settings = load_settings(
            {
                "data_dir": data_dir,
                "jwt_secret": secrets.token_hex(32),
                "auth.issuer": "http://127.0.0.1:8003",
                "http.allow_private_networks": True,
                "monitoring.scrape_interval": 3600,
                **backend,
            },
            env_file=None,
        )
        service = MonitoringService(settings=settings)
        async with slack.running():
            await service.start()
            try:
                name = f"bench-{secrets.token_hex(3)}"
                await service.create_channel(
                    {"name": name, "type": "slack", "settings": {"webhook_url": slack.hook()}}
                )
                routing = {
                    "route": {"receiver": name, "group_wait": "0s", "group_by": ["alertname"]}
                }
                await service.set_routing(RoutingConfig.from_json(routing))
                dispatch_ms: list[float] = []
                total_ms: list[float] = []
                for i in range(args.warmup + args.rounds):
                    before = len(slack.messages)
                    now = time.time()
                    alert = Alert(
                        labels={"alertname": f"Bench{i}", "severity": "critical"},
                        annotations={"summary": "benchmark"},
                        starts_at=now,
                        updated_at=now,
                    )
                    started = time.perf_counter()
                    await service.dispatch([alert])
                    dispatched = time.perf_counter()
                    while len(slack.messages) == before:
                        if time.perf_counter() - started > 10:
                            raise RuntimeError("no notification within 10 s")
                        await asyncio.sleep(0.0005)
                    done = time.perf_counter()
                    if i >= args.warmup:
                        dispatch_ms.append((dispatched - started) * 1000)
                        total_ms.append((done - started) * 1000)
                    await asyncio.sleep(args.pause)
            finally:
                await service.stop()
    log(f"alert to notification: p50 {_percentile(total_ms, 0.5)} ms")
    return {
        "benchmark": "monitoring_notify",
        "backend": "postgresql+redis" if args.database_url else "embedded",
        "rounds": args.rounds,
        "dispatch_ms": _summary(dispatch_ms),
        "total_ms": _summary(total_ms),
        "target_total_ms": 1000,
        "meets_target": max(total_ms) < 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--pause", type=float, default=0.05)
    parser.add_argument("--database-url")
    parser.add_argument("--redis-url")
    parser.add_argument("--output")
    args = parser.parse_args()
    result = asyncio.run(run(args))
    result["environment"] = environment(rounds=args.rounds, warmup=args.warmup)
    emit(result, args.output)


if __name__ == "__main__":
    main()
