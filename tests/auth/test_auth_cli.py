"""``aicc users ...``, ``aicc auth ...`` and ``aicc serve auth`` as an operator runs them:
real subprocesses on an embedded data folder and a free loopback port."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.auth.support import kid_of
from tests.backends import free_port
from tests.processes import Running, aicc_env, run_aicc

BOOTSTRAP_LINE = re.compile(r"Created the first SUPER_ADMIN '([^']+)' with the password (\S+)")


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    fast_hashing = {
        "AICC_AUTH_PASSWORD_HASH_MEMORY_KIB": "8192",
        "AICC_AUTH_PASSWORD_HASH_TIME_COST": "1",
    }
    return aicc_env(tmp_path, **fast_hashing, **extra)


class Server(Running):
    """``aicc serve auth`` in the background; ``stdout`` is what it printed up to its banner."""

    def __init__(self, env: dict[str, str], cwd: Path, port: int | None = None) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        super().__init__(["serve", "auth", "--port", str(self.port)], env, cwd)
        self.stdout = self.banner

    def stop_cleanly(self) -> str:
        """SIGTERM; asserts a clean exit and returns what it wrote to stderr."""
        code, _, err = self.stop()
        assert code == 0, err[-3000:]
        assert "Traceback" not in err
        return err


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[list[Server]]:
    """Servers started by a test; any still running at the end are killed."""
    started: list[Server] = []
    yield started
    for server in started:
        server.kill()


def start(started: list[Server], env: dict[str, str], cwd: Path, port: int | None = None) -> Server:
    server = Server(env, cwd, port)
    started.append(server)
    return server


def login(url: str, username: str, password: str) -> dict[str, Any]:
    response = httpx2.post(
        f"{url}/auth/login", json={"username": username, "password": password}, timeout=10
    )
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def published_kids(url: str) -> list[str]:
    keys = httpx2.get(f"{url}/.well-known/jwks.json", timeout=10).json()["keys"]
    return sorted(k["kid"] for k in keys)


def me(url: str, tokens: dict[str, Any]) -> httpx2.Response:
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    return httpx2.get(f"{url}/auth/me", headers=headers, timeout=10)


class TestUsersCreate:
    def test_generated_password_signs_in_with_the_role(
        self, tmp_path: Path, serve: list[Server]
    ) -> None:
        env = _env(tmp_path)
        created = run_aicc(
            *["users", "create", "alice", "--email", "a@x.io", "--role", "supervisor"],
            env=env,
            cwd=tmp_path,
        )
        assert created.returncode == 0, created.stderr
        result = json.loads(created.stdout)
        assert result["username"] == "alice"
        assert result["roles"] == ["SUPERVISOR"]
        password = result["generated_password"]
        assert len(password) >= 16
        assert password not in created.stderr

        server = start(serve, env, tmp_path)
        assert BOOTSTRAP_LINE.search(server.stdout) is None, "users exist: no bootstrap admin"
        tokens = login(server.url, "alice", password)
        profile = me(server.url, tokens)
        assert profile.status_code == 200, profile.text
        assert profile.json()["id"] == result["user_id"]
        assert profile.json()["email"] == "a@x.io"
        assert profile.json()["roles"] == ["SUPERVISOR"]
        server.stop_cleanly()

    def test_a_common_password_from_stdin_is_refused(self, tmp_path: Path) -> None:
        env = _env(tmp_path)
        refused = run_aicc(
            *["users", "create", "bob", "--email", "b@x.io", "--password-stdin"],
            env=env,
            cwd=tmp_path,
            stdin="password123\n",
        )
        assert refused.returncode != 0
        assert "too common" in refused.stderr
        assert "password_common" in refused.stderr
        assert "Traceback" not in refused.stderr
        assert refused.stdout == ""

        accepted = run_aicc(
            *["users", "create", "bob", "--email", "b@x.io", "--password-stdin"],
            env=env,
            cwd=tmp_path,
            stdin="Tangerine-Kettle-Orbit-58\n",
        )
        assert accepted.returncode == 0, accepted.stderr
        result = json.loads(accepted.stdout)
        assert result["roles"] == ["VIEWER"]
        assert "generated_password" not in result


class TestServeAuth:
    def test_bootstrap_admin_password_is_printed_once_on_stdout(
        self, tmp_path: Path, serve: list[Server]
    ) -> None:
        env = _env(tmp_path)
        first = start(serve, env, tmp_path)
        found = BOOTSTRAP_LINE.search(first.stdout)
        assert found is not None, first.stdout
        username, password = found.groups()
        assert username == "admin"
        tokens = login(first.url, username, password)
        assert me(first.url, tokens).json()["roles"] == ["SUPER_ADMIN"]
        logs = first.stop_cleanly()
        assert password not in logs
        assert "bootstrap admin created" in logs, "the event is logged, without the password"

        second = start(serve, env, tmp_path)
        assert BOOTSTRAP_LINE.search(second.stdout) is None
        assert password not in second.stdout
        login(second.url, username, password)
        assert password not in second.stop_cleanly()

    def test_a_common_bootstrap_password_refuses_to_start(self, tmp_path: Path) -> None:
        env = _env(tmp_path, AICC_BOOTSTRAP_ADMIN_PASSWORD="password")
        result = run_aicc("serve", "auth", "--port", str(free_port()), env=env, cwd=tmp_path)
        assert result.returncode == 2
        assert "AICC_BOOTSTRAP_ADMIN_PASSWORD is refused" in result.stderr
        assert "too common" in result.stderr
        assert "Traceback" not in result.stderr
        assert "Press Ctrl-C" not in result.stdout


class TestRotateKeys:
    def test_rotation_publishes_both_kids_and_old_tokens_stay_valid(
        self, tmp_path: Path, serve: list[Server]
    ) -> None:
        env = _env(tmp_path, AICC_BOOTSTRAP_ADMIN_PASSWORD="Bootstrap-Passphrase-For-Cli-9")
        server = start(serve, env, tmp_path)
        [old_kid] = published_kids(server.url)
        before = login(server.url, "admin", "Bootstrap-Passphrase-For-Cli-9")
        assert kid_of(before["access_token"]) == old_kid

        rotated = run_aicc("auth", "rotate-keys", env=env, cwd=tmp_path)
        assert rotated.returncode == 0, rotated.stderr
        result = json.loads(rotated.stdout)
        new_kid = result["active_kid"]
        assert new_kid != old_kid
        assert sorted(result["published_kids"]) == sorted([old_kid, new_kid])

        # The running server re-reads its keys only every KeyStore.RELOAD_INTERVAL (60 s),
        # so check a fresh start (same address, so the same issuer): both kids published, new
        # tokens on the new key, and a token signed before the rotation still accepted.
        server.stop_cleanly()
        restarted = start(serve, env, tmp_path, server.port)
        assert published_kids(restarted.url) == sorted([old_kid, new_kid])
        after = login(restarted.url, "admin", "Bootstrap-Passphrase-For-Cli-9")
        assert kid_of(after["access_token"]) == new_kid
        assert me(restarted.url, after).status_code == 200
        old = me(restarted.url, before)
        assert old.status_code == 200, old.text
        restarted.stop_cleanly()
