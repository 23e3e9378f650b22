"""The spec's Python API: each facade built from a config dict, started and stopped."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from aicc.auth import AuthService
from aicc.core.db import Database
from aicc.core.errors import ConfigError
from aicc.core.migrate import upgrade
from aicc.core.service import ServiceBase
from aicc.integration import IntegrationService
from aicc.monitoring import MonitoringService
from aicc.recording import RecordingService
from tests.backends import free_port

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
async def test_spec_config_dict_on_a_fresh_postgres_with_redis(
    facade: type[ServiceBase],
    postgres_url: str,
    redis_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The spec's config dicts, as it writes them, on an empty database: the schema is
    created at start."""
    # The monitoring example names a Connect instance, so its poller starts: keep it here.
    monkeypatch.setenv("AWS_ENDPOINT_URL_CONNECT", "http://127.0.0.1:9")
    config: dict[str, object] = {
        "database_url": postgres_url,
        "redis_url": redis_url,
        "data_dir": str(tmp_path / "var"),
    }
    if facade is MonitoringService:
        config.update(prometheus_port=free_port(), connect_instance_id="your-instance-id")
    if facade is RecordingService:
        config.update(encryption_key="your-encryption-key")
    service = facade(config)
    await service.start()
    try:
        ready = await service.readiness()
        assert ready["ready"] is True
        assert ready["checks"]["database"]["backend"] == "postgresql"
        assert ready["checks"]["cache"]["backend"] == "redis"
    finally:
        await service.stop()


async def test_spec_auth_example_runs_as_written_on_a_fresh_postgres(
    postgres_url: str, tmp_path: Path
) -> None:
    config = {
        "database_url": postgres_url,
        "jwt_secret": "a-real-deployment-secret-of-32-bytes!",
        "data_dir": str(tmp_path / "var"),
    }
    auth_service = AuthService(config)
    await auth_service.start()
    try:
        user_id = await auth_service.register_user(
            username="agent001",
            email="agent@company.com",
            password="SecurePass123!x",
            roles=["agent"],
        )
        auth_result = await auth_service.authenticate_user(
            username="agent001", password="SecurePass123!x", ip_address="192.168.1.100"
        )
        principal = await auth_service.token_verifier.verify(auth_result["access_token"])
        assert principal.user_id == user_id and principal.roles == ("AGENT",)
    finally:
        await auth_service.stop()


async def test_with_auto_migrate_off_a_schema_behind_the_code_is_refused(
    postgres_url: str,
) -> None:
    service = AuthService({"database_url": postgres_url, "server.auto_migrate": False})
    with pytest.raises(ConfigError, match="aicc db upgrade"):
        await service.start()
    assert not service.started


@pytest.mark.parametrize("auto_migrate", [True, False])
async def test_code_older_than_the_schema_refuses_to_start(
    database_url: str, tmp_path: Path, auto_migrate: bool
) -> None:
    database = Database(database_url)
    try:
        await upgrade(database)
        async with database.transaction() as conn:
            await conn.execute(text("UPDATE alembic_version SET version_num = '0099_future'"))
    finally:
        await database.close()
    service = MonitoringService(
        {
            "database_url": database_url,
            "data_dir": str(tmp_path / "var"),
            "server.auto_migrate": auto_migrate,
        }
    )
    with pytest.raises(ConfigError, match=r"'0099_future'.*newer release"):
        await service.start()
    database = Database(database_url)
    try:
        async with database.connect() as conn:
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar()
    finally:
        await database.close()
    assert version == "0099_future", "nothing was written"


async def test_production_start_refuses_embedded_defaults(tmp_path: Path) -> None:
    service = RecordingService({"env": "production", "data_dir": str(tmp_path / "var")})
    with pytest.raises(ConfigError, match="S3_BUCKET"):
        await service.start()
