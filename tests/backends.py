"""Where the real backends live on a developer machine and in CI, and how tests reach them.

Under ``CI=true`` a test that needs PostgreSQL or Redis fails when it cannot reach them;
elsewhere it is skipped with a message saying how to start them.
"""

from __future__ import annotations

import os
import socket

import pytest

POSTGRES_HOST = os.environ.get("AICC_TEST_PG_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("AICC_TEST_PG_PORT", "5432"))
POSTGRES_USER = os.environ.get("AICC_TEST_PG_USER", "postgres")
REDIS_HOST = os.environ.get("AICC_TEST_REDIS_HOST", "127.0.0.1")
REDIS_PORT = int(os.environ.get("AICC_TEST_REDIS_PORT", "6379"))

HOW_TO_START = {
    "PostgreSQL": "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
    "Redis": "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
}


def reachable(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def require(name: str, host: str, port: int) -> None:
    """Fail (in CI) or skip (elsewhere) when ``name`` is not listening on host:port."""
    if reachable(host, port):
        return
    message = f"{name} is not reachable on {host}:{port}; start it with: {HOW_TO_START[name]}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
