"""The fastapi-users 15.0.5 peer: POST /auth/jwt/login and GET /users/me, pinned to core 1.

Each round starts a fresh peer (bench/fastapi_users/app.py in bench/.venv-fastapi-users, made by
bench/fastapi_users/setup.sh), registers a user, takes a token, measures /users/me with the
bearer token, then login (form-encoded), then waits for the login queue to drain. With
``--baseline`` (default) the bare FastAPI /health app is measured in the same run for ratios.

    .venv/bin/python bench/fastapi_users_bench.py [--db sqlite|postgres] [-d 10] [--rounds 3]

Importable: ``peer()`` (context manager), ``measure_me()``, ``measure_login()``, ``run()``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import importlib.util
import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
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
from health import run_variant, variants
from loadgen import Request
from servers import ServerProcess, drain, find_root

BENCH = Path(__file__).resolve().parent
FU_DIR = BENCH / "fastapi_users"
FU_VENV = BENCH / ".venv-fastapi-users"
PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
_spec = importlib.util.spec_from_file_location("fu_seed", FU_DIR / "seed.py")
assert _spec is not None and _spec.loader is not None
seed = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(seed)


@dataclass
class Peer:
    server: ServerProcess
    db: str
    token: str
    others: dict[str, int]
    """Further process trees whose CPU is reported (the PostgreSQL postmaster)."""


async def _pg(dsn: str, sql: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


@contextlib.contextmanager
def scratch_postgres(dsn: str = PG_DSN) -> Iterator[str]:
    """Create ``bench_fu_<random>`` and yield its SQLAlchemy asyncpg URL; drop it afterwards."""
    name = f"bench_fu_{secrets.token_hex(4)}"
    asyncio.run(_pg(dsn, f'CREATE DATABASE "{name}"'))
    try:
        base = dsn.rsplit("/", 1)[0].replace("postgresql://", "postgresql+asyncpg://", 1)
        yield f"{base}/{name}"
    finally:
        asyncio.run(_pg(dsn, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@contextlib.contextmanager
def peer(
    db: str = "sqlite", *, cpu: int | None = SERVER_CPU, pg_dsn: str = PG_DSN
) -> Iterator[Peer]:
    """A running fastapi-users server with a registered user and a valid bearer token."""
    uvicorn = FU_VENV / "bin" / "uvicorn"
    if not uvicorn.exists():
        raise SystemExit(f"{uvicorn} missing: run bash bench/fastapi_users/setup.sh first")
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-fu-")))
        others: dict[str, int] = {}
        if db == "postgres":
            url = stack.enter_context(scratch_postgres(pg_dsn))
            if (postmaster := find_root("postgres")) is not None:
                others["postgres"] = postmaster
        else:
            url = f"sqlite+aiosqlite:///{tmp / 'fastapi_users.db'}"
        env = {
            **os.environ,
            "FU_DATABASE_URL": url,
            "FU_JWT_SECRET": secrets.token_urlsafe(48),
        }
        argv = [str(uvicorn), "app:app", "--app-dir", str(FU_DIR), "--host", "127.0.0.1"]
        argv += ["--port", "{port}", "--loop", "uvloop", "--http", "httptools"]
        argv += ["--no-access-log", "--log-level", "warning"]
        server = ServerProcess(argv, cpu=cpu, env=env, cwd=tmp, log_path=tmp / "server.log")
        stack.enter_context(server)
        server.wait_ready("/docs")
        seed.register(server.url)
        yield Peer(server, db, seed.login(server.url), others)


def measure_me(runner: asyncio.Runner, p: Peer, **load: Any) -> dict[str, Any]:
    """GET /users/me with the peer's bearer token (JWT decode + one user select)."""
    request = Request("GET", "/users/me", {"Authorization": f"Bearer {p.token}"})
    return measure(runner, p.server, "/users/me", request=request, others=p.others, **load)


def measure_login(runner: asyncio.Runner, p: Peer, **load: Any) -> dict[str, Any]:
    """POST /auth/jwt/login (argon2 verify on the event loop), then wait for the queue."""
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    request = Request("POST", "/auth/jwt/login", headers, seed.login_form())
    load.setdefault("timeout", 120.0)
    result = measure(runner, p.server, "/auth/jwt/login", request=request, others=p.others, **load)
    result["drain_s"] = round(drain(p.server.url + "/docs"), 2)
    return result


def run(
    db: str = "sqlite",
    *,
    duration: float = 10.0,
    warmup: float = 2.0,
    connections: int = 32,
    rounds: int = 3,
    baseline: bool = True,
    quiet_wait: float = 0.0,
    runner: asyncio.Runner | None = None,
) -> dict[str, Any]:
    """Measure both endpoints ``rounds`` times; return medians, ratios and every run."""
    load = {"duration": duration, "warmup": warmup, "connections": connections}
    meta = environment(benchmark="fastapi_users", db=db, rounds=rounds, **load)
    load["quiet_wait"] = quiet_wait
    meta["versions"]["fastapi-users"] = "15.0.5 (bench/.venv-fastapi-users)"
    runs: dict[str, list[dict[str, Any]]] = {"users_me": [], "login": []}
    if baseline:
        runs = {"bare_health": [], **runs}
    with contextlib.ExitStack() as stack:
        if runner is None:
            runner = stack.enter_context(new_runner())
        for round_no in range(1, rounds + 1):
            if baseline:
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                runs["bare_health"].append(run_variant(runner, variants()[0], tmp, **load))
            with peer(db) as p:
                runs["users_me"].append(measure_me(runner, p, **load))
                runs["login"].append(measure_login(runner, p, **load))
            for name, rs in runs.items():
                log(f"round {round_no} {name:12s} {describe(rs[-1])}")
    summaries = {name: summarize(rs) for name, rs in runs.items()}
    if baseline:
        for name in ("users_me", "login"):
            summaries[name]["ratio_to_bare"] = ratios(summaries[name], summaries["bare_health"])
    return {"meta": meta, "endpoints": summaries, "runs": runs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="fastapi-users peer: login and /users/me")
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("-w", "--warmup", type=float, default=2.0)
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument(
        "--quiet-wait", type=float, default=0.0, help="wait up to S s for idle cores before a run"
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 2 s")
    parser.add_argument("--output", type=Path, help="also write the JSON to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = 2.0, 1.0, 1
    pin_client()
    result = run(
        args.db,
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        rounds=args.rounds,
        baseline=args.baseline,
        quiet_wait=args.quiet_wait,
    )
    text = json.dumps(result, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
