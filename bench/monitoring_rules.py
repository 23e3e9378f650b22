"""The alert-rule engine (``aicc.monitoring.alerting``): 1,000 rules per evaluation cycle over
an hour of the four services' scrapes, and what the sample store costs.

    .venv/bin/python bench/monitoring_rules.py [--rules 1000] [--cycles 40] [--routes 20]
        [--output bench/results/monitoring_rules.json]

Each service is a real ``aicc.core.metrics.AppMetrics`` registry (requests and latency
histograms by route, database metrics, process metrics), plus on monitoring the system gauges
and 20 Connect queues × 2 channels × 6 gauges, and on auth the live-session gauge; every
15 s each is exposed with ``generate_latest`` and ingested with ``service=<name>``.

- ``store``: series and points after one hour (240 scrapes per service), bytes measured with
  tracemalloc while ingesting (``tracemalloc_bytes``) and the store's own estimate; ingest
  time per scrape.
- ``evaluation``: then ``--cycles`` cycles of: one new scrape per service (not timed), then
  every rule evaluated at the same ``now`` (timed: wall clock and process CPU, one core): ms
  per cycle (target < 50 ms). Rules: 40 % newest value of a gauge, 30 % p95/p99 of the
  latency histogram (by service, per route, or per series), 30 % request rate (by service
  or route). Two rule sets with the same selections alternate cycles: ``quiet`` (thresholds
  that a few percent of series cross, as in normal operation) and ``storm`` (about a third
  cross: thousands of pending and firing alerts).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
import tracemalloc
from pathlib import Path
from typing import Any

from harness import emit, environment, log
from prometheus_client import CollectorRegistry, Gauge, generate_latest

from aicc.core.metrics import AppMetrics, DatabaseMetrics
from aicc.monitoring.alerting import AlertRule, RuleState, SampleStore, evaluate

SERVICES = ("monitoring", "recording", "integration", "auth")
SCRAPE = 15.0
HOUR_SCRAPES = 240
TARGET_MS = 50.0
CONNECT_GAUGES = (
    "agents_online",
    "agents_available",
    "agents_on_contact",
    "agents_after_contact_work",
    "contacts_in_queue",
    "oldest_contact_age_seconds",
)


class Service:
    """One service's ``/metrics``, with traffic made up each scrape interval."""

    def __init__(self, name: str, routes: int, rng: random.Random) -> None:
        self.name, self.rng = name, rng
        self.database = DatabaseMetrics()
        self.metrics = AppMetrics(name, database=lambda: self.database)
        self.routes = [f"/{name}/r{i}" for i in range(routes)]
        self.extra: dict[str, Gauge] = {}
        registry: CollectorRegistry = self.metrics.registry
        if name == "monitoring":
            for metric in ("cpu", "memory", "disk"):
                self.extra[metric] = Gauge(f"system_{metric}_usage_percent", metric,
                                           registry=registry)  # fmt: skip
            for metric in CONNECT_GAUGES:
                self.extra[metric] = Gauge(
                    f"aicc_connect_{metric}", metric, ["queue", "channel"], registry=registry
                )
        if name == "auth":
            self.extra["sessions"] = Gauge("aicc_active_sessions_total", "s", registry=registry)

    def step(self) -> str:
        rng = self.rng
        for route in self.routes:
            for _ in range(rng.randint(1, 6)):
                status = 200 if rng.random() < 0.95 else 500
                method = "GET" if rng.random() < 0.8 else "POST"
                self.metrics.observe(method, route, status, rng.lognormvariate(-3, 1.2))
        self.database.connections_active.set(rng.randint(0, 10))
        for _ in range(20):
            self.database.query_duration.observe(rng.lognormvariate(-6, 1))
        for metric, gauge in self.extra.items():
            if metric in CONNECT_GAUGES:
                for queue in range(20):
                    for channel in ("VOICE", "CHAT"):
                        gauge.labels(f"q{queue}", channel).set(rng.randint(0, 30))
            else:
                gauge.set(rng.uniform(0, 100))
        return generate_latest(self.metrics.registry).decode()


def make_rules(count: int, routes: int, seed: int, *, storm: bool) -> list[AlertRule]:
    """The same selections either way; ``storm`` picks thresholds that about a third of the
    series cross (thousands of alerts), otherwise only the top few percent do."""
    rng = random.Random(seed)
    rules: list[AlertRule] = []
    gauges = [
        ("system_cpu_usage_percent", None, 100.0),
        ("system_memory_usage_percent", None, 100.0),
        ("system_disk_usage_percent", None, 100.0),
        ("aicc_db_connections_active", "service", 10.0),
        ("aicc_active_sessions_total", None, 100.0),
        ("aicc_connect_contacts_in_queue", "queue", 30.0),
        ("aicc_connect_agents_available", "queue", 30.0),
    ]

    def threshold(low: float, high: float, quiet_low: float, quiet_high: float) -> float:
        draw = rng.uniform(low, high), rng.uniform(quiet_low, quiet_high)
        return draw[0] if storm else draw[1]

    for i in range(count):
        kind = i % 10
        operator = rng.choice([">", ">=", "<"])
        body: dict[str, Any] = {
            "rule_name": f"rule_{i}",
            "operator": operator if storm else ">",
            "level": rng.choice(["info", "warning", "critical"]),
            "for_seconds": rng.choice([0, 60, 300]),
        }
        service = rng.choice(SERVICES)
        route = f"/{service}/r{rng.randrange(routes)}"
        if kind < 4:
            metric, label, top = gauges[i % len(gauges)]
            body |= {"metric": metric, "threshold": threshold(0, top, 0.96 * top, 1.2 * top)}
            if label == "queue":
                body["labels"] = {"queue": f"q{rng.randrange(20)}"}
            elif label == "service":
                body["labels"] = {"service": service}
        elif kind < 7:
            body |= {
                "metric": "aicc_api_duration_seconds",
                "aggregation": rng.choice(["p95", "p99"]),
                "threshold": threshold(0.05, 1.0, 2.0, 5.0),
                "window_seconds": rng.choice([300, 300, 600]),
            }
            shape = i % 3
            if shape == 0:
                body["by"] = ["service"]
            elif shape == 1:
                body["labels"] = {"service": service, "route": route}
            else:
                body["labels"] = {"service": service}
        else:
            body |= {
                "metric": "aicc_api_requests_total",
                "aggregation": "rate",
                "window_seconds": rng.choice([60, 300]),
            }
            if i % 2:
                body["by"] = ["service"]
                body["threshold"] = threshold(0, 10, 20, 50)
            else:
                body["labels"] = {"service": service, "route": route}
                body["by"] = ["route"]
                body["threshold"] = threshold(0, 0.5, 1, 5)
        rules.append(AlertRule.model_validate(body))
    return rules


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rules", type=int, default=1000)
    parser.add_argument("--cycles", type=int, default=40)
    parser.add_argument("--routes", type=int, default=20)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    services = [Service(name, args.routes, rng) for name in SERVICES]

    log("generating one hour of scrapes ...")
    t0 = 1_800_000_000.0
    hour = [[s.step() for s in services] for _ in range(HOUR_SCRAPES)]
    later = [[s.step() for s in services] for _ in range(args.cycles)]

    log("ingesting under tracemalloc ...")
    tracemalloc.start()
    traced = SampleStore()
    for step, texts in enumerate(hour):
        for name, text in zip(SERVICES, texts, strict=True):
            traced.ingest(text, t0 + step * SCRAPE, {"service": name})
    traced_bytes, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del traced

    log("ingesting ...")
    store = SampleStore()
    ingest_ms: list[float] = []
    for step, texts in enumerate(hour):
        for name, text in zip(SERVICES, texts, strict=True):
            started = time.perf_counter()
            store.ingest(text, t0 + step * SCRAPE, {"service": name})
            ingest_ms.append((time.perf_counter() - started) * 1000)
    stats = store.stats()
    per_series_points = stats["points"] / max(stats["series"], 1)

    scenarios = {
        "quiet": make_rules(args.rules, args.routes, args.seed, storm=False),
        "storm": make_rules(args.rules, args.routes, args.seed, storm=True),
    }
    states: dict[str, dict[str, RuleState | None]] = {
        name: {r.rule_name: None for r in rules} for name, rules in scenarios.items()
    }
    wall: dict[str, list[float]] = {name: [] for name in scenarios}
    cpu: dict[str, list[float]] = {name: [] for name in scenarios}
    counts = {name: {"sent": 0, "transitions": 0} for name in scenarios}
    log(f"{stats['series']} series; {args.rules} rules x {args.cycles} cycles ...")
    for cycle, texts in enumerate(later):
        now = t0 + (HOUR_SCRAPES + cycle) * SCRAPE
        for name, text in zip(SERVICES, texts, strict=True):
            store.ingest(text, now, {"service": name})
        scenario = "quiet" if cycle % 2 == 0 else "storm"
        rule_states = states[scenario]
        started, started_cpu = time.perf_counter(), time.process_time()
        for rule in scenarios[scenario]:
            outcome = evaluate(rule, store, rule_states[rule.rule_name], now, interval=2 * SCRAPE)
            rule_states[rule.rule_name] = outcome.state
            counts[scenario]["sent"] += len(outcome.to_send)
            counts[scenario]["transitions"] += len(outcome.transitions)
        wall[scenario].append((time.perf_counter() - started) * 1000)
        cpu[scenario].append((time.process_time() - started_cpu) * 1000)

    def summary(name: str) -> dict[str, Any]:
        alerts = [a for s in states[name].values() if s for a in s.alerts.values()]
        ordered = sorted(wall[name])
        return {
            "cycles": len(ordered),
            "cycle_ms_p50": round(statistics.median(ordered), 2),
            "cycle_ms_max": round(ordered[-1], 2),
            "cycle_cpu_ms_p50": round(statistics.median(cpu[name]), 2),
            "us_per_rule_p50": round(statistics.median(ordered) * 1000 / args.rules, 1),
            "alerts_firing_at_end": sum(a.state == "firing" for a in alerts),
            "alerts_pending_at_end": sum(a.state == "pending" for a in alerts),
            "alerts_sent": counts[name]["sent"],
            "transitions": counts[name]["transitions"],
        }

    evaluation = {name: summary(name) for name in scenarios}
    result = {
        "environment": environment(rules=args.rules, cycles=args.cycles, routes=args.routes),
        "store": {
            "series": stats["series"],
            "points": stats["points"],
            "points_per_series": round(per_series_points, 1),
            "tracemalloc_bytes": traced_bytes,
            "estimated_bytes": stats["bytes"],
            "bytes_per_point": round(traced_bytes / max(stats["points"], 1), 1),
            "scrape_bytes": [len(t) for t in hour[-1]],
            "ingest_ms_per_scrape_p50": round(statistics.median(ingest_ms), 3),
            "ingest_ms_per_scrape_max": round(max(ingest_ms), 3),
        },
        "evaluation": evaluation,
        "targets": {"cycle_ms": TARGET_MS},
        "meets_target": all(e["cycle_ms_p50"] < TARGET_MS for e in evaluation.values()),
    }
    emit(result, args.output)


if __name__ == "__main__":
    main()
