"""The rule for tests that need PostgreSQL or Redis: fail under CI=true, skip elsewhere."""

from __future__ import annotations

import pytest

from tests.backends import free_port, require


def test_unreachable_backend_fails_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="Redis is not reachable"):
        require("Redis", "127.0.0.1", free_port())


def test_unreachable_backend_skips_locally_with_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="start it with: pg_ctlcluster"):
        require("PostgreSQL", "127.0.0.1", free_port())
