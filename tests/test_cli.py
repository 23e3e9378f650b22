"""The ``aicc`` command as a user runs it: real subprocesses on free loopback ports."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.backends import free_port
from tests.processes import Running, aicc_env, run_aicc

SERVICES = ("monitoring", "recording", "integration", "auth")


@pytest.fixture
def ports() -> dict[str, int]:
    return {name: free_port() for name in SERVICES}


@pytest.fixture
def running_up(tmp_path: Path, ports: dict[str, int]) -> Iterator[Running]:
    args = ["up"]
    for name, port in ports.items():
        args += [f"--{name}-port", str(port)]
    running = Running(args, aicc_env(tmp_path), tmp_path)
    yield running
    running.kill()


class TestUp:
    @pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
    def test_serves_all_four_then_stops_cleanly(
        self, running_up: Running, ports: dict[str, int], tmp_path: Path, sig: signal.Signals
    ) -> None:
        for name, port in ports.items():
            base = f"http://127.0.0.1:{port}"
            assert f"{name}" in running_up.banner and f"{base}/docs" in running_up.banner
            health = httpx2.get(f"{base}/health", timeout=5)
            assert health.status_code == 200 and health.json()["service"] == name
            metrics = httpx2.get(f"{base}/metrics", timeout=5).text
            counted = f'route="/health",service="{name}",status="200"}} 1.0'
            assert f'aicc_api_requests_total{{method="GET",{counted}' in metrics
            assert httpx2.get(f"{base}/health/ready", timeout=5).status_code == 200
        assert str(tmp_path / "var") in running_up.banner
        code, elapsed, stderr = running_up.stop(sig, repeat=2 if sig == signal.SIGTERM else 1)
        assert code == 0
        assert elapsed < 10
        assert "Traceback" not in stderr
        for line in stderr.splitlines():
            json.loads(line)
        key = tmp_path / "var" / "secrets" / "encryption.key"
        assert key.stat().st_mode & 0o777 == 0o600
        assert (tmp_path / "var" / "aicc.db").exists()

    def test_port_in_use_is_a_clear_error(self, tmp_path: Path) -> None:
        import socket

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            port = taken.getsockname()[1]
            result = run_aicc(
                "serve", "auth", "--port", str(port), env=aicc_env(tmp_path), cwd=tmp_path
            )
        assert result.returncode == 2
        assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
        assert "Traceback" not in result.stderr

    def test_production_refuses_embedded_defaults(self, tmp_path: Path) -> None:
        result = run_aicc("up", env=aicc_env(tmp_path, AICC_ENV="production"), cwd=tmp_path)
        assert result.returncode == 2
        for name in ("DATABASE_URL", "REDIS_URL", "S3_BUCKET", "ENCRYPTION_KEY"):
            assert name in result.stderr
        assert "Traceback" not in result.stderr
        assert not (tmp_path / "var").exists()


class TestConfigShow:
    def test_masks_secrets_and_reads_dotenv(self, tmp_path: Path) -> None:
        (tmp_path / ".env").write_text(
            "DATABASE_URL=postgresql://aicc:dotenv-pass@db:5432/aicc\nJWT_SECRET=jwt-dotenv-secret\n"
        )
        result = run_aicc("config", "show", env=aicc_env(tmp_path), cwd=tmp_path)
        assert result.returncode == 0, result.stderr
        shown = json.loads(result.stdout)
        assert shown["database"]["effective_url"] == "postgresql://aicc:***@db:5432/aicc"
        assert shown["security"]["jwt_secret"] == "***"
        assert "dotenv-pass" not in result.stdout and "jwt-dotenv-secret" not in result.stdout


class TestProductionBackends:
    def test_migrate_then_serve_on_postgres_redis_and_s3(
        self,
        tmp_path: Path,
        postgres_url: str,
        redis_url: str,
        moto_endpoint: str,
        s3_bucket: str,
    ) -> None:
        env = aicc_env(
            tmp_path,
            AICC_ENV="production",
            AICC_AUTO_MIGRATE="false",
            DATABASE_URL=postgres_url,
            REDIS_URL=redis_url,
            S3_BUCKET=s3_bucket,
            S3_ENDPOINT_URL=moto_endpoint,
            AWS_REGION="us-east-1",
            ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode(),
        )
        port = free_port()
        refused = run_aicc("serve", "recording", "--port", str(port), env=env, cwd=tmp_path)
        assert refused.returncode == 2 and "aicc db upgrade" in refused.stderr

        upgraded = run_aicc("db", "upgrade", env=env, cwd=tmp_path)
        assert upgraded.returncode == 0, upgraded.stderr
        assert json.loads(upgraded.stdout)["up_to_date"] is True
        current = run_aicc("db", "current", env=env, cwd=tmp_path)
        assert json.loads(current.stdout)["up_to_date"] is True

        running = Running(["serve", "recording", "--port", str(port)], env, tmp_path)
        try:
            ready = httpx2.get(f"http://127.0.0.1:{port}/health/ready", timeout=10)
            assert ready.status_code == 200, ready.text
            checks = ready.json()["checks"]
            assert {k: v["backend"] for k, v in checks.items()} == {
                "database": "postgresql",
                "cache": "redis",
                "storage": "s3",
            }
            assert httpx2.get(f"http://127.0.0.1:{port + 0}/health", timeout=5).status_code == 200
        finally:
            code, _, stderr = running.stop()
        assert code == 0 and "Traceback" not in stderr
        assert not (tmp_path / "var").exists(), "production mode writes nothing locally"


def test_output_cut_short_by_its_reader_is_not_a_traceback(tmp_path: Path) -> None:
    """``aicc config show | head -n 1``: the reader has closed the pipe (here before the
    command writes anything, which its start-up takes long enough to ensure)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "aicc", "config", "show"],
        env=aicc_env(tmp_path),
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
    )
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 0, errors
    assert "Traceback" not in errors and "BrokenPipe" not in errors, errors
