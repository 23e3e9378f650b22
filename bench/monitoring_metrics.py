"""``GET /metrics`` of the monitoring app with the spec's metric set and 100 Connect queues.

    .venv/bin/python bench/monitoring_metrics.py [--queues 100] [--duration 10] [--output FILE]
        [--redis-url redis://127.0.0.1:6379/0] [--connect]

The monitoring app runs under uvicorn in a child process pinned to one core (embedded backends
by default, or Redis as the shared cache with ``--redis-url``), with Amazon Connect configured
and a snapshot of ``--queues`` queues × VOICE, CHAT, TASK × every Connect metric, plus agent
states, recorded as the poller records one (``record_connect_snapshot``). Its request metrics
have series for a few routes. The parent, on the other core, scrapes ``/metrics`` one request
at a time over a kept-alive connection for ``--duration`` seconds:

- ``scrape_ms``: time per scrape seen by the client, request sent to the last byte read
  (p50, p90, p99, max; target p50 < 5 ms), and the bytes and series of one answer;
- ``handler_ms``: in the server process, what the route does per scrape
  (``refresh_metrics()``: system metrics and the cache check of the Connect status;
  ``generate_latest`` of the registry; the cached Connect text);
- ``rebuild_ms``: the same after a new snapshot (the gauges and their text rebuilt once).

``--connect`` also runs ``bench/monitoring_connect.py`` (poll + export of the same number of
queues through the AWS client factory against the Connect stand-in: CPU per cycle, target
< 1 s) and includes its figures under ``connect_cycle``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import httpx2  # noqa: E402
from harness import CLIENT_CPU, SERVER_CPU, emit, environment, log  # noqa: E402
from loadgen import pin_self, run_load  # noqa: E402

CHANNELS = ("VOICE", "CHAT", "TASK")
ACTIVITIES = ("Available", "On contact", "After contact work", "Incoming", "Break")
INSTANCE = "00000000-0000-4000-8000-000000000bench"
TARGET_MS = 5.0


def build_snapshot(queues: int, taken_at: float) -> Any:
    from aicc.monitoring.connect import METRICS, QueueInfo, Snapshot

    snapshot = Snapshot(
        instance_id=INSTANCE,
        taken_at=taken_at,
        channels=CHANNELS,
        metrics=tuple(m.name for m in METRICS),
    )
    for n in range(queues):
        queue_id = f"q-{n:04}"
        arn = f"arn:aws:connect:ap-northeast-2:123456789012:instance/{INSTANCE}/queue/{queue_id}"
        snapshot.queues[queue_id] = QueueInfo(queue_id, arn, f"Queue {n:04}")
        for c, channel in enumerate(CHANNELS):
            snapshot.values[(queue_id, channel)] = {
                m.name: float(n + c + i) for i, m in enumerate(METRICS)
            }
    snapshot.agent_states = {
        queue_id: {a: (n + i) % 7 for i, a in enumerate(ACTIVITIES)}
        for n, queue_id in enumerate(snapshot.queues)
    }
    snapshot.instance_agent_states = {a: 30 * (i + 1) for i, a in enumerate(ACTIVITIES)}
    return snapshot


def summary(values: list[float], digits: int = 3) -> dict[str, float]:
    ordered = sorted(values)
    at = lambda q: round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], digits)  # noqa: E731
    return {
        "median": round(statistics.median(ordered), digits),
        "p90": at(0.90),
        "p99": at(0.99),
        "max": round(ordered[-1], digits),
    }


async def handler_times(service: Any, rounds: int) -> list[float]:
    from prometheus_client import generate_latest

    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await service.refresh_metrics()
        generate_latest(service.metrics.registry) + service.extra_metrics()
        times.append((time.perf_counter() - started) * 1000)
    return times


async def serve(args: dict[str, Any], pipe: Connection) -> None:
    import uvicorn

    from aicc.core.config import load_settings
    from aicc.monitoring.app import create_app

    config: dict[str, Any] = {
        "data_dir": args["data_dir"],
        "jwt_secret": "bench-secret-bench-secret-bench-secret!!",
        "connect.instance_id": INSTANCE,
        "jobs.enabled": False,
    }
    if args["redis_url"]:
        config.update({"redis_url": args["redis_url"], "redis.key_prefix": "aicc-bench:"})
    app = create_app(load_settings(config, env_file=None))
    service = app.state.aicc_service
    sock = socket.socket()
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, access_log=False, lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event)
        await asyncio.sleep(0.01)
    url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with httpx2.AsyncClient(base_url=url) as client:
        for path in ("/health", "/health/ready", "/metrics/system", "/connect/metrics", "/nope"):
            await client.get(path)
    await service.record_connect_snapshot(build_snapshot(args["queues"], time.time()))
    steady = await handler_times(service, 500)
    rebuild = []
    for n in range(50):
        await service.record_connect_snapshot(build_snapshot(args["queues"], time.time() + n))
        service._connect_shown = None  # what another replica sees: the new snapshot to load
        rebuild += await handler_times(service, 1)
    pipe.send({"url": url, "handler_ms": summary(steady), "rebuild_ms": summary(rebuild)})
    await asyncio.to_thread(pipe.recv)
    server.should_exit = True
    await task


def run_child(args: dict[str, Any], pipe: Connection) -> None:
    pin_self(SERVER_CPU)
    try:
        import uvloop

        uvloop.run(serve(args, pipe))
    except ImportError:
        asyncio.run(serve(args, pipe))


async def scrape(url: str, duration: float) -> dict[str, Any]:
    """Scrapes one after another on one kept-alive connection (the raw-stream client of
    ``loadgen``, so the client's own parsing adds little), then one more to count series."""
    load = await run_load(url + "/metrics", connections=1, duration=duration, warmup=1.0)
    async with httpx2.AsyncClient(base_url=url, timeout=10) as client:
        body = (await client.get("/metrics")).content
    lines = body.decode().splitlines()
    latency = load["latency_ms"]
    return {
        "scrapes": load["requests"],
        "errors": load["errors"]["total"],
        "scrape_ms": {k: latency[k] for k in ("p50", "p90", "p99", "max", "mean")},
        "target_ms": TARGET_MS,
        "meets_target": latency["p50"] is not None and latency["p50"] < TARGET_MS,
        "exposition_bytes": len(body),
        "series": sum(1 for line in lines if line and not line.startswith("#")),
        "connect_series": sum(1 for line in lines if line.startswith("aicc_connect_")),
    }


def connect_cycle(queues: int) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run(
            [sys.executable, str(ROOT / "bench" / "monitoring_connect.py"), "--queues",
             str(queues), "--cycles", "10", "--output", out.name],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        found = json.loads(Path(out.name).read_text())
    return {key: found[key] for key in ("cycle", "poll", "export", "scrape_cached")}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--queues", type=int, default=100)
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--redis-url")
    parser.add_argument("--connect", action="store_true")
    parser.add_argument("--output")
    options = parser.parse_args(argv)
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    with tempfile.TemporaryDirectory() as data_dir:
        args = {"queues": options.queues, "redis_url": options.redis_url, "data_dir": data_dir}
        process = context.Process(target=run_child, args=(args, theirs))
        process.start()
        try:
            server = ours.recv()
            log(f"monitoring app at {server['url']} with {options.queues} Connect queues")
            pin_self(CLIENT_CPU)
            result = asyncio.run(scrape(server["url"], options.duration))
            result["handler_ms"] = server["handler_ms"]
            result["rebuild_ms"] = server["rebuild_ms"]
        finally:
            ours.send("stop")
            process.join(20)
            if process.is_alive():
                process.terminate()
    if options.connect:
        result["connect_cycle"] = connect_cycle(options.queues)
    result["environment"] = environment(
        queues=options.queues,
        channels=list(CHANNELS),
        duration_s=options.duration,
        cache="redis" if options.redis_url else "memory",
    )
    emit(result, options.output)


if __name__ == "__main__":
    main()
