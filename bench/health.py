"""GET /health: the project's monitoring service against a bare FastAPI app, in one run.

Variants (each a fresh server pinned to core 1; the load generator is pinned to core 0):
  bare                  bench/apps/bare.py on uvicorn --no-access-log --loop uvloop --http httptools
  aicc_log_warning      aicc serve monitoring, LOG_LEVEL=WARNING (access log set on, but filtered)
  aicc_access_log_off   aicc serve monitoring, AICC_ACCESS_LOG=false (LOG_LEVEL=INFO)
  aicc_access_log_file  aicc serve monitoring, access log on (INFO), stderr redirected to a file

Rounds alternate the variants (order rotated each round); medians are over clean runs.

    .venv/bin/python bench/health.py [-d 10] [--rounds 3] [--quick] [--output FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import (
    SERVER_CPU,
    describe,
    environment,
    log,
    measure,
    new_runner,
    pin_client,
    ratios,
    summarize,
)
from servers import ServerProcess

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
_PROJECT_BIN = ROOT / ".venv" / "bin"
BIN = _PROJECT_BIN if _PROJECT_BIN.is_dir() else Path(sys.executable).parent
# Settings an engineer's shell may carry that would change what the service starts with.
_STRIP_PREFIXES = ("AICC_", "DATABASE_", "REDIS_", "S3_", "LOG_")


@dataclass(frozen=True)
class Variant:
    name: str
    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    description: str = ""


def variants() -> list[Variant]:
    bare = [
        str(BIN / "uvicorn"),
        "bare:app",
        "--app-dir",
        str(BENCH / "apps"),
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--no-access-log",
        "--loop",
        "uvloop",
        "--http",
        "httptools",
        "--log-level",
        "warning",
    ]
    aicc = [str(BIN / "aicc"), "serve", "monitoring", "--port", "{port}"]
    return [
        Variant("bare", bare, description="bare FastAPI, dict from GET /health"),
        Variant(
            "aicc_log_warning",
            aicc,
            {"LOG_LEVEL": "WARNING"},
            "aicc monitoring, LOG_LEVEL=WARNING",
        ),
        Variant(
            "aicc_access_log_off",
            aicc,
            {"LOG_LEVEL": "INFO", "AICC_ACCESS_LOG": "false"},
            "aicc monitoring, LOG_LEVEL=INFO, AICC_ACCESS_LOG=false",
        ),
        Variant(
            "aicc_access_log_file",
            aicc,
            {"LOG_LEVEL": "INFO", "AICC_ACCESS_LOG": "true"},
            "aicc monitoring, access log on, stderr to a file",
        ),
    ]


def _env(variant: Variant, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_STRIP_PREFIXES)}
    env.update(variant.env)
    if variant.name != "bare":
        env["AICC_DATA_DIR"] = str(data_dir)
    return env


def run_variant(runner: Any, variant: Variant, work: Path, **load: Any) -> dict[str, Any]:
    """Start ``variant`` on core 1, measure GET /health (``load``: see harness.measure), stop."""
    data_dir = work / variant.name
    data_dir.mkdir(exist_ok=True)
    log_path = data_dir / "server.log"
    size_before = log_path.stat().st_size if log_path.exists() else 0
    server = ServerProcess(
        variant.argv,
        cpu=SERVER_CPU,
        env=_env(variant, data_dir),
        cwd=data_dir,  # no stray .env is read
        log_path=log_path,
    )
    with server:
        server.wait_ready("/health")
        result = measure(runner, server, "/health", **load)
    result["server_log_bytes"] = log_path.stat().st_size - size_before
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="GET /health: aicc monitoring vs bare FastAPI")
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds per run")
    parser.add_argument("-w", "--warmup", type=float, default=2.0)
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--quiet-wait", type=float, default=0.0, help="wait up to S s for idle cores before a run"
    )
    parser.add_argument("--only", help="comma-separated variant names (bare is always run)")
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 2 s")
    parser.add_argument("--output", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = 2.0, 1.0, 1
    chosen = variants()
    if args.only:
        names = {"bare", *args.only.split(",")}
        chosen = [v for v in chosen if v.name in names]
    pin_client()
    meta = environment(
        benchmark="health",
        duration_s=args.duration,
        warmup_s=args.warmup,
        connections=args.connections,
        rounds=args.rounds,
    )
    load = {
        "duration": args.duration,
        "warmup": args.warmup,
        "connections": args.connections,
        "quiet_wait": args.quiet_wait,
    }
    runs: dict[str, list[dict[str, Any]]] = {v.name: [] for v in chosen}
    with tempfile.TemporaryDirectory(prefix="bench-health-") as tmp, new_runner() as runner:
        for round_no in range(args.rounds):
            shift = round_no % len(chosen)
            for variant in chosen[shift:] + chosen[:shift]:
                result = run_variant(runner, variant, Path(tmp), **load)
                result["round"] = round_no + 1
                runs[variant.name].append(result)
                log(f"round {round_no + 1} {variant.name:22s} {describe(result)}")
    summaries = {name: summarize(rs) for name, rs in runs.items()}
    base = summaries["bare"]
    out = {
        "meta": meta,
        "variants": {
            v.name: {
                "description": v.description,
                **summaries[v.name],
                "ratio_to_bare": ratios(summaries[v.name], base),
            }
            for v in chosen
        },
        "runs": runs,
    }
    text = json.dumps(out, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
