"""Shared by the benchmark scripts: one measured run, medians over rounds, ratios, metadata."""

from __future__ import annotations

import asyncio
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from loadgen import Request, Scenario, loop_factory, pin_self, run_load
from servers import CpuWindow, ServerProcess, wait_quiet

CLIENT_CPU = 0
SERVER_CPU = 1


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def new_runner() -> asyncio.Runner:
    return asyncio.Runner(loop_factory=loop_factory())


def measure(
    runner: asyncio.Runner,
    server: ServerProcess,
    path: str,
    *,
    request: Request | None = None,
    scenario: Scenario | None = None,
    connections: int = 32,
    duration: float = 10.0,
    warmup: float = 2.0,
    timeout: float | None = None,
    others: Mapping[str, int] | None = None,
    quiet_wait: float = 0.0,
) -> dict[str, Any]:
    """One load run against a started server: load-generator numbers plus its CPU use.

    ``others``: name -> root pid of further process trees (e.g. postgres) whose CPU to report.
    ``quiet_wait``: first wait up to this many seconds for both cores to be nearly idle.
    """
    waited = wait_quiet(quiet_wait) if quiet_wait > 0 else 0.0
    window = CpuWindow(server, others)
    result = runner.run(
        run_load(
            server.url + path,
            request=request,
            scenario=scenario,
            connections=connections,
            duration=duration,
            warmup=warmup,
            timeout=timeout,
            on_start=[window.start],
            on_stop=[window.stop],
        )
    )
    result.update(window.result(result["requests"]))
    if os.sched_getaffinity(0) == {CLIENT_CPU} and str(CLIENT_CPU) in result["core_busy"]:
        # Busy time on the load generator's core not spent by it: a neighbour slowing it down.
        foreign = result["core_busy"][str(CLIENT_CPU)] - result["client_cpu"]
        result["client_core_foreign"] = round(max(foreign, 0.0), 3)
    result["quiet_wait_s"] = waited
    result["clean"] = bool(result["saturated"] and result["errors"]["total"] == 0)
    return result


def describe(result: dict[str, Any]) -> str:
    """One progress line for a run."""
    lat = result["latency_ms"]
    line = (
        f"{result['rps']:>9.1f} req/s p50 {lat['p50']} ms p99 {lat['p99']} ms "
        f"server {result['server_cores']:.2f} cores {result['server_cpu_us_per_req']} us/req "
        f"client {result['client_cpu']:.2f} errors {result['errors']['total']}"
    )
    if result.get("other_cores"):
        line += f" other {result['other_cores']}"
    noisy = max(result.get("server_core_foreign", 0), result.get("client_core_foreign", 0))
    if noisy > 0.05 or not result["saturated"]:
        busiest = ", ".join(
            f"{p['comm']}({p['pid']}) {p['cores']}" for p in result["busiest_other_processes"]
        )
        line += f" | foreign on server core {result.get('server_core_foreign')}"
        line += f", on client core {result.get('client_core_foreign')}"
        line += f"; busiest others: {busiest or 'none'}"
    return line


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(statistics.median(present), 3) if present else None


def summarize(runs: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the clean runs (server saturated, no errors), or over all when none is."""
    clean = [r for r in runs if r["clean"]]
    use = clean or list(runs)
    return {
        "rps": _median(r["rps"] for r in use),
        "p50_ms": _median(r["latency_ms"]["p50"] for r in use),
        "p90_ms": _median(r["latency_ms"]["p90"] for r in use),
        "p99_ms": _median(r["latency_ms"]["p99"] for r in use),
        "server_cpu_us_per_req": _median(r["server_cpu_us_per_req"] for r in use),
        "server_cores": _median(r["server_cores"] for r in use),
        "client_cores": _median(r["client_cpu"] for r in use),
        "rps_range": [min(r["rps"] for r in use), max(r["rps"] for r in use)] if use else None,
        "errors": sum(r["errors"]["total"] for r in runs),
        "runs": len(runs),
        "clean_runs": len(clean),
        "median_of": "clean" if clean else "all",
        "max_server_core_foreign": max((r.get("server_core_foreign", 0) for r in runs), default=0),
        "max_client_core_foreign": max((r.get("client_core_foreign", 0) for r in runs), default=0),
    }


def _ratio(a: float | None, b: float | None) -> float | None:
    return float(f"{a / b:.4g}") if a is not None and b else None  # 4 significant digits


def ratios(summary: dict[str, Any], baseline: dict[str, Any]) -> dict[str, float | None]:
    """``summary`` divided by ``baseline``: rps < 1 and cpu/latency > 1 mean slower."""
    return {
        "rps": _ratio(summary["rps"], baseline["rps"]),
        "server_cpu_us_per_req": _ratio(
            summary["server_cpu_us_per_req"], baseline["server_cpu_us_per_req"]
        ),
        "p50_ms": _ratio(summary["p50_ms"], baseline["p50_ms"]),
        "p99_ms": _ratio(summary["p99_ms"], baseline["p99_ms"]),
    }


def _version(name: str) -> str | None:
    try:
        return version(name)
    except PackageNotFoundError:
        return None


def environment(**settings: Any) -> dict[str, Any]:
    """Run metadata: machine, versions, load at start, the settings used."""
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
        "versions": {
            n: _version(n) for n in ("fastapi", "starlette", "uvicorn", "uvloop", "httptools")
        },
        "client_pinned_to_core": CLIENT_CPU,
        "server_pinned_to_core": SERVER_CPU,
        **settings,
    }


def pin_client(cpu: int | None = CLIENT_CPU) -> None:
    pin_self(cpu)


def emit(result: Mapping[str, Any], output: str | os.PathLike[str] | None) -> None:
    """Print the result as JSON and, with ``output``, write it there too."""
    text = json.dumps(result, indent=2, default=str)
    print(text)
    if output:
        path = Path(output)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
