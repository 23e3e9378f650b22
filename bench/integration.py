"""The integration service: SYNC latency and capacity, ASYNC delivery on PostgreSQL.

    .venv/bin/python bench/integration.py [--quick] [--output bench/results/integration.json]

- ``sync_latency``: ``get_customer_info`` through ``aicc serve integration`` (Salesforce
  connector, embedded SQLite), one call at a time against a stand-in that answers in 20 ms;
  baseline: the same contact read sent straight to the stand-in with ``httpx2``, interleaved
  call by call. ``added_ms_median`` = median(through) - median(direct); target ≤ 2 ms. A
  second baseline, ``bare_forward_added_ms_median``, is what a raw ASGI app that only forwards
  the call with httpx2 adds on the same core: the floor of any service in the middle here.
- ``sync_capacity``: the same call at concurrency 16 for a fixed time against a stand-in that
  answers at once; service pinned to core 1, load generator and stand-in on core 0. Baseline:
  the stand-in alone under the same load. Target ≥ 500 calls/s.
- ``async_postgres``: ASYNC ``log_interaction`` messages on a scratch PostgreSQL database
  (Redis for the shared state), enqueued through the Python API while two worker processes
  deliver them; messages/s from the first enqueue to the provider's last acknowledgement.
  Target ≥ 1,000 messages/s. ``cpu_ms_per_message`` splits the CPU time the whole run used
  (user + system, from the kernel's accounting) by process: the two workers, the producer
  (this process), the stand-in, PostgreSQL's backends and Redis; with two cores, 1,000
  messages/s leaves 2 ms of CPU per message for all of them together.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import jwt
import psutil
from fastapi_users_bench import scratch_postgres
from harness import emit, environment, log, pin_client
from loadgen import Request, run_load
from servers import ServerProcess

from aicc.integration import IntegrationService, IntegrationType, MessageType

SECRET = "integration-bench-shared-secret-32-bytes"  # noqa: S105 (a local benchmark key)
ISSUER = "http://127.0.0.1:8003"
CONTACT_ID = "003000000000001AAA"
CONTACT_PATH = f"/services/data/v62.0/sobjects/Contact/{CONTACT_ID}"
TARGETS = {"added_ms_median": 2.0, "sync_calls_per_s": 500, "async_messages_per_s": 1000}
HERE = Path(__file__).resolve().parent


def bearer(*roles: str) -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "aicc",
        "sub": "bench",
        "preferred_username": "bench",
        "sid": "bench",
        "iat": now,
        "nbf": now,
        "exp": now + 86400,
        "jti": "b",
        "roles": list(roles),
    }
    encoded = jwt.encode(claims, SECRET, algorithm="HS256", headers={"typ": "at+jwt"})
    return {"Authorization": f"Bearer {encoded}"}


def base_env(data: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("AICC_", "DATABASE_", "REDIS_"))
    }
    env.update(
        AICC_DATA_DIR=str(data),
        JWT_SECRET=SECRET,
        AICC_AUTH_ISSUER=ISSUER,
        AICC_ACCESS_LOG="false",
        AICC_ALLOW_PRIVATE_NETWORKS="true",
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def standin(delay_ms: float, cpu: int | None = 0) -> ServerProcess:
    env = {**os.environ, "STANDIN_DELAY_MS": str(delay_ms)}
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(HERE / "apps"),
        "crm_standin:app",
        "--port",
        "{port}",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = ServerProcess(argv, cpu=cpu, env=env).start()
    process.wait_ready("/count")
    return process


def service(data: Path, cpu: int | None = 1, **extra: str) -> ServerProcess:
    argv = [sys.executable, "-m", "aicc", "serve", "integration", "--port", "{port}"]
    data.mkdir(parents=True, exist_ok=True)
    process = ServerProcess(
        argv, cpu=cpu, env=base_env(data, **extra), log_path=data / "server.log"
    ).start()
    process.wait_ready()
    return process


def salesforce_body(standin_url: str) -> dict[str, Any]:
    return {
        "integration_id": "crm_salesforce",
        "name": "Salesforce CRM",
        "type": "crm",
        "endpoint_url": standin_url,
        "auth_type": "oauth2",
        "auth_config": {
            "client_id": "bench",
            "client_secret": "bench-secret",
            "token_url": f"{standin_url}/services/oauth2/token",
        },
    }


LOOKUP = {
    "message_type": "sync",
    "payload": {"method": "get_customer_info", "customer_id": CONTACT_ID},
}


def register(service_url: str, standin_url: str) -> None:
    response = httpx2.post(
        f"{service_url}/integrations",
        json=salesforce_body(standin_url),
        headers=bearer("ADMIN"),
        timeout=30,
    )
    response.raise_for_status()


async def sync_latency(
    service_url: str, standin_url: str, proxy_url: str, calls: int
) -> dict[str, Any]:
    headers = bearer("AGENT")
    direct_headers = {"Authorization": "Bearer bench-token"}
    through: list[float] = []
    direct: list[float] = []
    forwarded: list[float] = []
    async with httpx2.AsyncClient(timeout=30) as client:
        for n in range(calls + 20):
            started = time.perf_counter()
            r = await client.get(standin_url + CONTACT_PATH, headers=direct_headers)
            d = time.perf_counter() - started
            started = time.perf_counter()
            s = await client.post(
                f"{service_url}/integrations/crm_salesforce/messages", json=LOOKUP, headers=headers
            )
            t = time.perf_counter() - started
            started = time.perf_counter()
            p = await client.get(proxy_url + CONTACT_PATH, headers=direct_headers)
            f = time.perf_counter() - started
            assert r.status_code == s.status_code == p.status_code == 200, s.text
            if n >= 20:
                direct.append(d * 1000)
                through.append(t * 1000)
                forwarded.append(f * 1000)
    median = statistics.median
    return {
        "calls": calls,
        "direct_ms": _stats(direct),
        "through_ms": _stats(through),
        "bare_forward_ms": _stats(forwarded),
        "added_ms_median": round(median(through) - median(direct), 3),
        "bare_forward_added_ms_median": round(median(forwarded) - median(direct), 3),
        "target_added_ms": TARGETS["added_ms_median"],
    }


def forward_proxy(upstream: str, cpu: int | None = 1) -> ServerProcess:
    """The floor: a raw ASGI app forwarding to the stand-in with httpx2, on the service's core."""
    env = {**os.environ, "UPSTREAM": upstream}
    argv = [
        sys.executable,
        "-m",
        "uvicorn",
        "--app-dir",
        str(HERE / "apps"),
        "forward_proxy:app",
        "--port",
        "{port}",
        "--log-level",
        "warning",
        "--no-access-log",
    ]
    process = ServerProcess(argv, cpu=cpu, env=env).start()
    process.wait_ready(CONTACT_PATH)
    return process


def _stats(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    return {
        "median": round(statistics.median(ordered), 3),
        "p95": round(ordered[int(len(ordered) * 0.95) - 1], 3),
        "p99": round(ordered[int(len(ordered) * 0.99) - 1], 3),
    }


async def sync_capacity(service_url: str, standin_url: str, duration: float) -> dict[str, Any]:
    body = (
        f'{{"message_type":"sync","payload":{{"method":"get_customer_info",'
        f'"customer_id":"{CONTACT_ID}"}}}}'
    ).encode()
    request = Request(
        "POST",
        "/integrations/crm_salesforce/messages",
        {**bearer("AGENT"), "Content-Type": "application/json"},
        body,
    )
    through = await run_load(
        service_url, request=request, connections=16, duration=duration, warmup=2.0
    )
    direct = await run_load(
        standin_url,
        request=Request("GET", CONTACT_PATH, {"Authorization": "Bearer bench-token"}),
        connections=16,
        duration=duration,
        warmup=1.0,
    )
    rps = through["rps"]
    return {
        "concurrency": 16,
        "calls_per_s": rps,
        "statuses": through.get("statuses"),
        "latency_ms": through.get("latency_ms"),
        "standin_alone_per_s": direct["rps"],
        "ratio_to_standin": round(rps / direct["rps"], 3) if direct["rps"] else None,
        "target_calls_per_s": TARGETS["sync_calls_per_s"],
    }


async def async_postgres(data: Path, messages: int, url: str) -> dict[str, Any]:
    redis_prefix = f"bench-{secrets.token_hex(4)}:"
    backend = {
        "DATABASE_URL": url,
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "REDIS_KEY_PREFIX": redis_prefix,
        "ENCRYPTION_KEY": "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=",
    }
    endpoint = standin(0, cpu=None)
    producer = IntegrationService(
        {
            "database_url": url,
            "redis_url": backend["REDIS_URL"],
            "redis.key_prefix": redis_prefix,
            "encryption_key": backend["ENCRYPTION_KEY"],
            "data_dir": str(data / "producer"),
            "jobs.enabled": False,
            "http.allow_private_networks": True,
            "log_level": "WARNING",
        }
    )
    await producer.start()
    workers: list[ServerProcess] = []
    try:
        await producer.register_integration(
            {**salesforce_body(endpoint.url), "type": IntegrationType.CRM}
        )
        workers = [
            service(
                data / f"w{n}",
                cpu=None,
                AICC_JOBS_CONCURRENCY="32",
                AICC_HTTP_MAX_KEEPALIVE_CONNECTIONS="100",
                DATABASE_POOL_SIZE="24",
                **backend,
            )
            for n in range(2)
        ]
        payload = {
            "method": "log_interaction",
            "customer_id": CONTACT_ID,
            "subject": "Inbound call",
            "description": "Asked about an order",
            "direction": "inbound",
            "duration_seconds": 184,
        }
        accounts = {
            "workers": [w.pid for w in workers],
            "producer": [os.getpid()],
            "standin": [endpoint.pid],
        }
        before = _cpu_seconds(accounts)
        started = time.perf_counter()
        pending = asyncio.Semaphore(32)

        async def one() -> None:
            async with pending:
                await producer.send_message(
                    {
                        "integration_id": "crm_salesforce",
                        "message_type": MessageType.ASYNC,
                        "payload": payload,
                    }
                )

        await asyncio.gather(*(one() for _ in range(messages)))
        enqueued = time.perf_counter() - started
        async with httpx2.AsyncClient() as client:
            while (await client.get(f"{endpoint.url}/count")).json()["count"] < messages:  # noqa: ASYNC110 (polling another process)
                await asyncio.sleep(0.01)
        elapsed = time.perf_counter() - started
        after = _cpu_seconds(accounts)
    finally:
        for worker in workers:
            worker.stop()
        await producer.stop()
        endpoint.stop()
    return {
        "messages": messages,
        "workers": 2,
        "enqueue_per_s": round(messages / enqueued),
        "messages_per_s": round(messages / elapsed),
        "seconds": round(elapsed, 2),
        "cpu_ms_per_message": {
            name: round((after[name] - before.get(name, 0.0)) * 1000 / messages, 3)
            for name in after
        },
        "target_messages_per_s": TARGETS["async_messages_per_s"],
    }


def _cpu_seconds(accounts: dict[str, list[int]]) -> dict[str, float]:
    """CPU seconds used so far by each group of processes, and by every PostgreSQL and Redis
    server process (backends that start later count from zero)."""
    totals: dict[str, float] = {}

    def add(name: str, proc: psutil.Process) -> None:
        try:
            times = proc.cpu_times()
        except psutil.Error:
            return
        totals[name] = totals.get(name, 0.0) + times.user + times.system

    for name, pids in accounts.items():
        for pid in pids:
            add(name, psutil.Process(pid))
    for proc in psutil.process_iter(["name"]):
        if proc.info["name"] in ("postgres", "redis-server"):
            add("postgres" if proc.info["name"] == "postgres" else "redis", proc)
    totals["all"] = sum(totals.values())
    return totals


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--only", choices=("latency", "capacity", "async"))
    parser.add_argument("--output")
    args = parser.parse_args()
    calls, duration, messages = (100, 4.0, 2000) if args.quick else (400, 10.0, 20000)
    result: dict[str, Any] = {"environment": environment(quick=args.quick)}
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        if args.only in (None, "latency"):
            log("sync latency (stand-in answers in 20 ms)")
            pin_client(None)
            with (
                standin(20, cpu=None) as slow,
                service(data / "latency") as svc,
                forward_proxy(slow.url) as proxy,
            ):
                register(svc.url, slow.url)
                result["sync_latency"] = asyncio.run(
                    sync_latency(svc.url, slow.url, proxy.url, calls)
                )
        if args.only in (None, "capacity"):
            log("sync capacity (concurrency 16, instant stand-in)")
            pin_client()
            with standin(0) as fast, service(data / "capacity") as svc:
                register(svc.url, fast.url)
                result["sync_capacity"] = asyncio.run(sync_capacity(svc.url, fast.url, duration))
        if args.only in (None, "async"):
            log(f"async delivery on PostgreSQL ({messages} messages, 2 workers)")
            with scratch_postgres() as url:
                result["async_postgres"] = asyncio.run(async_postgres(data, messages, url))
    emit(result, args.output)


if __name__ == "__main__":
    main()
