"""The spec's Python API: each facade built from a config dict, started and stopped."""

from __future__ import annotations

from pathlib import Path

import pytest

from aicc.auth import AuthService
from aicc.core.errors import ConfigError
from aicc.core.service import ServiceBase
from aicc.integration import IntegrationService
from aicc.monitoring import MonitoringService
from aicc.recording import RecordingService

FACADES: list[type[ServiceBase]] = [
    MonitoringService,
    RecordingService,
    IntegrationService,
    AuthService,
]


@pytest.mark.parametrize("facade", FACADES, ids=lambda f: f.name)
async def test_start_and_stop_on_embedded_defaults(
    facade: type[ServiceBase], tmp_path: Path
) -> None:
    service = facade({"data_dir": str(tmp_path / "var")})
    await service.start()
    try:
        ready = await service.readiness()
        assert ready["ready"] is True
        assert ready["checks"]["database"]["backend"] == "sqlite"
    finally:
        await service.stop()
    assert not service.started
    with pytest.raises(RuntimeError, match="not started"):
        _ = service.resources


@pytest.mark.parametrize("facade", FACADES, ids=lambda f: f.name)
async def test_spec_config_dict_with_postgres_and_redis(
    facade: type[ServiceBase], postgres_url: str, redis_url: str, tmp_path: Path
) -> None:
    config = {
        "database_url": postgres_url,
        "redis_url": redis_url,
        "data_dir": str(tmp_path / "var"),
        "server.auto_migrate": True,
    }
    service = facade(config)
    await service.start()
    try:
        ready = await service.readiness()
        assert ready["ready"] is True
        assert ready["checks"]["database"]["backend"] == "postgresql"
        assert ready["checks"]["cache"]["backend"] == "redis"
    finally:
        await service.stop()


async def test_unmigrated_postgres_is_refused_with_the_fix(postgres_url: str) -> None:
    service = AuthService({"database_url": postgres_url})
    with pytest.raises(ConfigError, match="aicc db upgrade"):
        await service.start()
    assert not service.started


async def test_production_start_refuses_embedded_defaults(tmp_path: Path) -> None:
    service = RecordingService({"env": "production", "data_dir": str(tmp_path / "var")})
    with pytest.raises(ConfigError, match="S3_BUCKET"):
        await service.start()
