"""Settings: the spec's variable names, .env, overrides, production checks and masking."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from aicc.core.config import check_production, effective_config, load_settings, mask_url
from aicc.core.errors import ConfigError
from aicc.core.secrets import encryption_key, load_or_create_secret


class TestLoadSettings:
    def test_embedded_defaults(self) -> None:
        settings = load_settings()
        assert settings.server.host == "127.0.0.1"
        assert [
            settings.server.port(s) for s in ("monitoring", "recording", "integration", "auth")
        ] == [8000, 8001, 8002, 8003]
        assert settings.database_url == f"sqlite:///{Path.cwd() / 'var' / 'aicc.db'}"
        assert settings.embedded_database and settings.auto_migrate
        assert settings.redis_url is None
        assert settings.storage.bucket is None
        assert settings.object_store_dir == Path.cwd() / "var" / "objects"

    def test_spec_environment_variables(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DATABASE_URL", "postgresql://aicc:pw@db:5432/aicc")
        monkeypatch.setenv("REDIS_URL", "redis://cache:6379")
        monkeypatch.setenv("S3_BUCKET", "aicc-recordings")
        monkeypatch.setenv("AWS_REGION", "us-west-2")
        monkeypatch.setenv("S3_ENDPOINT_URL", "http://minio:9000")
        monkeypatch.setenv("CONNECT_INSTANCE_ID", "inst-1")
        monkeypatch.setenv("LOG_LEVEL", "debug")
        monkeypatch.setenv("AICC_AUTH_PORT", "9003")
        settings = load_settings()
        assert settings.database_url == "postgresql://aicc:pw@db:5432/aicc"
        assert not settings.embedded_database and settings.auto_migrate
        assert settings.redis_url == "redis://cache:6379"
        assert settings.storage.bucket == "aicc-recordings"
        assert settings.aws.region == "us-west-2"
        assert settings.storage.endpoint_url == "http://minio:9000"
        assert settings.connect.instance_id == "inst-1"
        assert settings.log.level == "DEBUG"
        assert settings.server.auth_port == 9003

    def test_dotenv_is_read_and_environment_wins(self, monkeypatch: pytest.MonkeyPatch) -> None:
        Path(".env").write_text("REDIS_URL=redis://from-dotenv:6379\nS3_BUCKET=dotenv-bucket\n")
        monkeypatch.setenv("S3_BUCKET", "env-bucket")
        settings = load_settings()
        assert settings.redis_url == "redis://from-dotenv:6379"
        assert settings.storage.bucket == "env-bucket"

    def test_spec_config_dict_overrides(self) -> None:
        settings = load_settings(
            {
                "database_url": "postgresql://u@h/db",
                "redis_url": "redis://h:6379",
                "s3_bucket": "b",
                "jwt_secret": "s" * 32,
                "prometheus_port": 9100,
                "connect_instance_id": "inst",
                "server.auth_port": 9103,
                "unknown_key": "ignored",
            },
            env_file=None,
        )
        assert settings.database_url == "postgresql://u@h/db"
        assert settings.server.monitoring_port == 9100
        assert settings.server.auth_port == 9103
        assert settings.security.jwt_secret is not None
        assert settings.connect.instance_id == "inst"

    @pytest.mark.parametrize(
        ("name", "value"),
        [("AICC_AUTH_PORT", "not-a-port"), ("AICC_AUTH_PORT", "70000"), ("LOG_LEVEL", "LOUD")],
    )
    def test_invalid_values_name_the_setting(
        self, monkeypatch: pytest.MonkeyPatch, name: str, value: str
    ) -> None:
        monkeypatch.setenv(name, value)
        with pytest.raises(ConfigError, match="invalid configuration"):
            load_settings()


class TestProduction:
    def test_refuses_embedded_defaults_naming_each(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AICC_ENV", "production")
        with pytest.raises(ConfigError) as info:
            check_production(load_settings())
        for name in ("DATABASE_URL", "REDIS_URL", "S3_BUCKET", "ENCRYPTION_KEY"):
            assert name in str(info.value)

    def test_accepts_real_backends(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AICC_ENV", "production")
        monkeypatch.setenv("DATABASE_URL", "postgresql://u@h/db")
        monkeypatch.setenv("REDIS_URL", "redis://h")
        monkeypatch.setenv("S3_BUCKET", "b")
        monkeypatch.setenv("ENCRYPTION_KEY", base64.b64encode(os.urandom(32)).decode())
        check_production(load_settings())

    def test_development_allows_defaults(self) -> None:
        check_production(load_settings())


class TestMasking:
    def test_mask_url_hides_only_the_password(self) -> None:
        assert (
            mask_url("postgresql://aicc:s3cret@db:5432/aicc")
            == "postgresql://aicc:***@db:5432/aicc"
        )
        assert mask_url("redis://cache:6379/0") == "redis://cache:6379/0"

    def test_effective_config_never_shows_secrets(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("DATABASE_URL", "postgresql://aicc:db-password@db/aicc")
        monkeypatch.setenv("REDIS_URL", "redis://:redis-password@cache:6379")
        monkeypatch.setenv("JWT_SECRET", "jwt-secret-value")
        monkeypatch.setenv("ENCRYPTION_KEY", "encryption-key-value")
        shown = str(effective_config(load_settings()))
        for secret in ("db-password", "redis-password", "jwt-secret-value", "encryption-key-value"):
            assert secret not in shown
        assert "postgresql://aicc:***@db/aicc" in shown


class TestSecrets:
    def test_generated_once_with_private_mode(self, tmp_path: Path) -> None:
        first = load_or_create_secret(tmp_path / "secrets", "encryption.key")
        again = load_or_create_secret(tmp_path / "secrets", "encryption.key")
        assert first == again and len(first) == 32
        mode = stat.S_IMODE((tmp_path / "secrets" / "encryption.key").stat().st_mode)
        assert mode == 0o600
        assert [p.name for p in (tmp_path / "secrets").iterdir()] == ["encryption.key"]

    def test_two_installs_never_share_a_key(self, tmp_path: Path) -> None:
        one = load_or_create_secret(tmp_path / "a", "encryption.key")
        two = load_or_create_secret(tmp_path / "b", "encryption.key")
        assert one != two

    def test_encryption_key_from_environment(self, monkeypatch: pytest.MonkeyPatch) -> None:
        key = os.urandom(32)
        monkeypatch.setenv("ENCRYPTION_KEY", base64.b64encode(key).decode())
        assert encryption_key(load_settings()) == key
        assert not Path("var/secrets/encryption.key").exists()

    def test_a_passphrase_is_stretched_to_a_key(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ENCRYPTION_KEY", base64.b64encode(b"short").decode())
        stretched = encryption_key(load_settings())
        assert len(stretched) == 32 and b"short" not in stretched
        monkeypatch.setenv("ENCRYPTION_KEY", "your-encryption-key")
        assert encryption_key(load_settings()) not in (stretched, b"your-encryption-key")

    def test_an_empty_encryption_key_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("ENCRYPTION_KEY", "")
        with pytest.raises(ConfigError, match="empty"):
            encryption_key(load_settings())

    def test_encryption_key_generated_in_data_dir(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        monkeypatch.setenv("AICC_DATA_DIR", str(tmp_path / "data"))
        key = encryption_key(load_settings())
        assert key == encryption_key(load_settings())
        assert (tmp_path / "data" / "secrets" / "encryption.key").exists()


class TestListsFromTheEnvironment:
    def test_comma_separated_roles_and_algorithms(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AICC_AUTH_MFA_REQUIRED_ROLES", "super_admin, ADMIN")
        monkeypatch.setenv("AICC_AUTH_ALGORITHMS", "EdDSA,ES256")
        auth = load_settings().auth
        assert auth.mfa_required_roles == ["SUPER_ADMIN", "ADMIN"]
        assert auth.algorithms == ["EdDSA", "ES256"]

    def test_unknown_algorithm_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AICC_AUTH_ALGORITHMS", "none")
        with pytest.raises(ConfigError, match="algorithms"):
            load_settings()

    def test_sso_providers_are_json(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("AICC_AUTH_SSO_PROVIDERS", '[{"name": "corp"}]')
        assert load_settings().auth.sso_providers == [{"name": "corp"}]
        monkeypatch.setenv("AICC_AUTH_SSO_PROVIDERS", "not json")
        with pytest.raises(ConfigError, match="sso_providers"):
            load_settings()
