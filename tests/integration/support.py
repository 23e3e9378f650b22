"""Helpers for the integration tests: the service's settings on either backend, and tokens."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from aicc.core.config import Settings, load_settings
from tests.recording.support import ISSUER, SECRET, bearer

__all__ = ["ADMIN", "AGENT", "VIEWER", "integration_settings"]

ADMIN = bearer("ADMIN", user_id="u-admin", username="admin")
AGENT = bearer("AGENT", user_id="u-agent", username="agent001")
VIEWER = bearer("VIEWER", user_id="u-viewer", username="viewer")


def integration_settings(tmp_path: Path, backend: dict[str, Any], **overrides: Any) -> Settings:
    """Settings for one test: stand-ins on loopback are allowed, jobs poll fast."""
    return load_settings(
        {
            "data_dir": str(tmp_path / "var"),
            "jwt_secret": SECRET,
            "auth.issuer": ISSUER,
            "http.allow_private_networks": True,
            "jobs.poll_interval": 0.2,
            **backend,
            **overrides,
        },
        env_file=None,
    )
