"""The auth service against its targets, on PostgreSQL and Redis, in one run.

Measures, with the server pinned to core 1 and the load generator to core 0:
  - the auth service's own ``GET /health`` (the baseline for ``/auth/me``);
  - ``GET /auth/me`` with a bearer token (signature check, revocation check, profile);
  - ``POST /auth/login`` with the default argon2id parameters (m=19 MiB, t=2, p=1);
  - ``POST /auth/refresh``, each connection chaining the refresh tokens it receives;
  - fastapi-users' documented SQLAlchemy + JWT app (``POST /auth/jwt/login``, ``GET /users/me``)
    on the same PostgreSQL, as the peer.
Prints JSON with medians over rounds and the ratios the issue sets targets for:
login >= 40/s and >= 6x the peer; refresh >= 300/s; /auth/me >= 0.35x /health and >= 4x the
peer's /users/me.

    bash bench/fastapi_users/setup.sh          # once: the peer's own virtualenv
    .venv/bin/python bench/auth.py             # 3 rounds of 10 s; --quick for a smoke run
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi_users_bench import measure_login as peer_login
from fastapi_users_bench import measure_me as peer_me
from fastapi_users_bench import peer, scratch_postgres
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
from loadgen import Request, Response
from servers import ServerProcess, find_root

ROOT = Path(__file__).resolve().parents[1]
AICC = ROOT / ".venv" / "bin" / "aicc"
REDIS_URL = "redis://127.0.0.1:6379/0"
ADMIN = "bench-admin"
USERS = 32
"""One user per connection, so logins do not contend on one account's rows."""


def _post_json(path: str, body: dict[str, Any], token: str | None = None) -> Request:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return Request("POST", path, headers, json.dumps(body).encode())


@contextlib.contextmanager
def aicc_auth(password: str) -> Iterator[tuple[ServerProcess, dict[str, int]]]:
    """``aicc serve auth`` on a scratch PostgreSQL database and a fresh Redis key prefix."""
    with contextlib.ExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-auth-")))
        url = stack.enter_context(scratch_postgres()).replace("+asyncpg", "")
        env = {
            **os.environ,
            "DATABASE_URL": url,
            "REDIS_URL": REDIS_URL,
            "REDIS_KEY_PREFIX": f"bench-{secrets.token_hex(4)}:",
            "AICC_DATA_DIR": str(tmp / "var"),
            "AICC_AUTO_MIGRATE": "true",
            "AICC_BOOTSTRAP_ADMIN_USERNAME": ADMIN,
            "AICC_BOOTSTRAP_ADMIN_PASSWORD": password,
            "AICC_AUTH_IP_FAILURE_LIMIT": "100000",
            "LOG_LEVEL": "WARNING",
        }
        argv = [str(AICC), "serve", "auth", "--port", "{port}"]
        server = ServerProcess(argv, cpu=SERVER_CPU, env=env, cwd=tmp, log_path=tmp / "log")
        stack.enter_context(server)
        server.wait_ready("/health")
        others = {}
        if (postmaster := find_root("postgres")) is not None:
            others["postgres"] = postmaster
        if (redis := find_root("redis-server")) is not None:
            others["redis"] = redis
        yield server, others


def _call(server: ServerProcess, request: Request) -> Any:
    import urllib.request

    http = urllib.request.Request(  # noqa: S310
        server.url + request.path,
        data=request.body or None,
        headers=dict(request.headers),
        method=request.method,
    )
    with urllib.request.urlopen(http, timeout=30) as response:  # noqa: S310
        return json.loads(response.read() or b"null")


def seed_users(server: ServerProcess, admin_password: str) -> list[tuple[str, str]]:
    admin = _call(
        server, _post_json("/auth/login", {"username": ADMIN, "password": admin_password})
    )
    users = []
    for i in range(USERS):
        name, password = f"bench-agent-{i}", f"bench-{secrets.token_urlsafe(12)}"
        body = {"username": name, "email": f"{name}@example.com", "password": password}
        _call(
            server,
            _post_json("/auth/register", {**body, "roles": ["agent"]}, admin["access_token"]),
        )
        users.append((name, password))
    return users


def login_scenario(users: list[tuple[str, str]]) -> Any:
    def factory(i: int) -> Any:
        name, password = users[i % len(users)]
        request = _post_json("/auth/login", {"username": name, "password": password})

        async def step(_: Response | None) -> Request:
            return request

        return step

    return factory


def refresh_scenario(users: list[tuple[str, str]]) -> Any:
    """Log in once per connection, then always refresh with the token just received."""

    def factory(i: int) -> Any:
        name, password = users[i % len(users)]
        login = _post_json("/auth/login", {"username": name, "password": password})

        async def step(previous: Response | None) -> Request:
            if previous is None or previous.status != 200:
                return login
            token = previous.json()["refresh_token"]
            return _post_json("/auth/refresh", {"refresh_token": token})

        return step

    return factory


def run(*, duration: float, warmup: float, rounds: int, quiet_wait: float) -> dict[str, Any]:
    load: dict[str, Any] = {"duration": duration, "warmup": warmup, "quiet_wait": quiet_wait}
    meta = environment(benchmark="auth", rounds=rounds, duration=duration, warmup=warmup)
    names = ["health", "me", "login", "refresh", "peer_users_me", "peer_login"]
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in names}
    with new_runner() as runner:
        for round_no in range(1, rounds + 1):
            password = f"bench-{secrets.token_urlsafe(16)}"
            with aicc_auth(password) as (server, others):
                users = seed_users(server, password)
                me_token = _call(
                    server,
                    _post_json(
                        "/auth/login", dict(zip(("username", "password"), users[0], strict=True))
                    ),
                )["access_token"]
                me = Request("GET", "/auth/me", {"Authorization": f"Bearer {me_token}"})
                runs["health"].append(measure(runner, server, "/health", others=others, **load))
                runs["me"].append(
                    measure(runner, server, "/auth/me", request=me, others=others, **load)
                )
                runs["login"].append(
                    measure(
                        runner,
                        server,
                        "/auth/login",
                        scenario=login_scenario(users),
                        others=others,
                        timeout=60.0,
                        **load,
                    )
                )
                runs["refresh"].append(
                    measure(
                        runner,
                        server,
                        "/auth/refresh",
                        scenario=refresh_scenario(users),
                        others=others,
                        **load,
                    )
                )
            with peer("postgres") as p:
                runs["peer_users_me"].append(peer_me(runner, p, **load))
                runs["peer_login"].append(peer_login(runner, p, **load))
            for name in names:
                log(f"round {round_no} {name:14s} {describe(runs[name][-1])}")
    s = {name: summarize(rs) for name, rs in runs.items()}
    s["me"]["ratio_to_health"] = ratios(s["me"], s["health"])
    s["me"]["ratio_to_peer"] = ratios(s["me"], s["peer_users_me"])
    s["login"]["ratio_to_peer"] = ratios(s["login"], s["peer_login"])
    targets = {
        "login_rps>=40": (s["login"]["rps"] or 0) >= 40,
        "login>=6x_peer": (s["login"]["ratio_to_peer"]["rps"] or 0) >= 6,
        "refresh_rps>=300": (s["refresh"]["rps"] or 0) >= 300,
        "me>=0.35x_health": (s["me"]["ratio_to_health"]["rps"] or 0) >= 0.35,
        "me>=4x_peer": (s["me"]["ratio_to_peer"]["rps"] or 0) >= 4,
    }
    return {"meta": meta, "endpoints": s, "targets_met": targets, "runs": runs}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("-d", "--duration", type=float, default=10.0)
    parser.add_argument("-w", "--warmup", type=float, default=2.0)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quiet-wait", type=float, default=0.0)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 round of 3 s")
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.warmup, args.rounds = 3.0, 1.0, 1
    if not AICC.exists():
        sys.exit(f"{AICC} missing: run scripts/test or scripts/up once to create .venv")
    pin_client()
    result = run(
        duration=args.duration, warmup=args.warmup, rounds=args.rounds, quiet_wait=args.quiet_wait
    )
    text = json.dumps(result, indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
