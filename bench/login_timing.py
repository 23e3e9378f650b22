"""Do failed logins tell their causes apart by response time?

Starts ``aicc serve auth`` (pinned to core 1, default argon2id parameters) and, over one
keep-alive connection, sends interleaved logins of five kinds: a correct password, a wrong
password, an unknown username, a disabled user and a locked account. Prints JSON with each
kind's latency percentiles and its median as a ratio of the wrong-password median (1.0 means
indistinguishable).

    .venv/bin/python bench/login_timing.py [--samples 200]
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
from harness import SERVER_CPU, environment, pin_client
from servers import ServerProcess

ROOT = Path(__file__).resolve().parents[1]
AICC = ROOT / ".venv" / "bin" / "aicc"
PASSWORD = f"Timing-{secrets.token_urlsafe(12)}"


def _seed(client: httpx2.Client, admin_password: str) -> None:
    admin = client.post("/auth/login", json={"username": "timing-root", "password": admin_password})
    headers = {"Authorization": f"Bearer {admin.json()['access_token']}"}
    for name in ("present", "disabled", "locked"):
        body = {"username": name, "email": f"{name}@example.com", "password": PASSWORD}
        created = client.post("/auth/register", json={**body, "roles": ["agent"]}, headers=headers)
        if name == "disabled":
            client.post(f"/auth/users/{created.json()['user_id']}/disable", headers=headers)
    for _ in range(3):
        client.post("/auth/login", json={"username": "locked", "password": "wrong-password-0"})


def run(samples: int) -> dict[str, Any]:
    kinds = {
        "correct_password": ("present", PASSWORD),
        "wrong_password": ("present", "wrong-password-1"),
        "unknown_user": ("nobody-by-this-name", PASSWORD),
        "disabled_user": ("disabled", PASSWORD),
        "locked_account": ("locked", PASSWORD),
    }
    timings: dict[str, list[float]] = {kind: [] for kind in kinds}
    statuses: dict[str, set[int]] = {kind: set() for kind in kinds}
    admin_password = f"Root-{secrets.token_urlsafe(12)}"
    with tempfile.TemporaryDirectory(prefix="bench-timing-") as tmp:
        env = {
            **os.environ,
            "AICC_DATA_DIR": str(Path(tmp) / "var"),
            "AICC_BOOTSTRAP_ADMIN_USERNAME": "timing-root",
            "AICC_BOOTSTRAP_ADMIN_PASSWORD": admin_password,
            "AICC_AUTH_LOCKOUT_THRESHOLD": "3",
            "AICC_AUTH_LOCKOUT_DURATION": "86400",
            "AICC_AUTH_IP_FAILURE_LIMIT": "1000000",
            "LOG_LEVEL": "WARNING",
        }
        argv = [str(AICC), "serve", "auth", "--port", "{port}"]
        with ServerProcess(argv, cpu=SERVER_CPU, env=env, cwd=tmp) as server:
            server.wait_ready("/health")
            with httpx2.Client(base_url=server.url, timeout=30) as client:
                _seed(client, admin_password)
                for round_no in range(samples + 5):
                    for kind, (username, password) in kinds.items():
                        started = time.perf_counter()
                        response = client.post(
                            "/auth/login", json={"username": username, "password": password}
                        )
                        elapsed = (time.perf_counter() - started) * 1000
                        if round_no >= 5:
                            timings[kind].append(elapsed)
                            statuses[kind].add(response.status_code)
    baseline = statistics.median(timings["wrong_password"])
    result: dict[str, Any] = {}
    for kind, values in timings.items():
        ordered = sorted(values)
        result[kind] = {
            "statuses": sorted(statuses[kind]),
            "p10_ms": round(ordered[len(ordered) // 10], 2),
            "p50_ms": round(statistics.median(ordered), 2),
            "p90_ms": round(ordered[len(ordered) * 9 // 10], 2),
            "median_vs_wrong_password": round(statistics.median(ordered) / baseline, 3),
        }
    return {"meta": environment(benchmark="login_timing", samples=samples), "kinds": result}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="login response times by failure cause")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    if not AICC.exists():
        sys.exit(f"{AICC} missing: run scripts/test or scripts/up once to create .venv")
    pin_client()
    text = json.dumps(run(args.samples), indent=2)
    if args.output:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
