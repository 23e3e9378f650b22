"""Settings read from the environment and ``.env``, grouped by subsystem.

The variable names are the spec's (``DATABASE_URL``, ``REDIS_URL``, ``S3_BUCKET``, ``AWS_REGION``,
``JWT_SECRET``, ``CONNECT_INSTANCE_ID``, ``LOG_LEVEL``) plus ``AICC_*`` for what the spec leaves
open. Nothing is read at import time: call :func:`load_settings`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from aicc.core.config_services import (
    AuthSettings,
    ConsoleSettings,
    IntegrationSettings,
    MonitoringSettings,
    RecordingSettings,
    settings_group,
)
from aicc.core.errors import ConfigError

ServiceName = Literal["monitoring", "recording", "integration", "auth"]
SERVICE_NAMES: tuple[ServiceName, ...] = ("monitoring", "recording", "integration", "auth")
WingName = Literal[ServiceName, "console"]
"""A service or the operator console (which serves pages over the four services' APIs)."""


_group = settings_group


class ServerSettings(BaseSettings):
    model_config = _group("AICC_")

    env: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path("var")
    host: str = "127.0.0.1"
    monitoring_port: int = Field(8000, ge=0, le=65535)
    recording_port: int = Field(8001, ge=0, le=65535)
    integration_port: int = Field(8002, ge=0, le=65535)
    auth_port: int = Field(8003, ge=0, le=65535)
    max_body_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    access_log: bool = True
    auto_migrate: bool = True
    """Apply pending migrations at start-up (one migrator at a time on PostgreSQL)."""
    shutdown_timeout: float = Field(5.0, gt=0)
    trusted_proxies: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """CIDRs of load balancers whose ``X-Forwarded-For`` / ``X-Forwarded-Proto`` are believed."""

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            value = [p.strip() for p in value.split(",") if p.strip()]
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_networks(cls, value: list[str]) -> list[str]:
        for cidr in value:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError:
                raise ValueError(f"not an IP network: {cidr!r}") from None
        return value

    def port(self, service: ServiceName) -> int:
        port: int = getattr(self, f"{service}_port")
        return port


class DatabaseSettings(BaseSettings):
    model_config = _group("DATABASE_")

    url: SecretStr | None = None
    pool_size: int = Field(10, ge=1)
    max_overflow: int = Field(10, ge=0)
    pool_timeout: float = Field(10.0, gt=0)
    echo: bool = False


class RedisSettings(BaseSettings):
    model_config = _group("REDIS_")

    url: SecretStr | None = None
    key_prefix: str = "aicc:"


class JobsSettings(BaseSettings):
    """The background job workers every service process runs (``aicc.core.jobs``)."""

    model_config = _group("AICC_JOBS_")

    enabled: bool = True
    """Run job workers in this process; off for processes that only serve requests."""
    concurrency: int = Field(20, ge=1, le=1000)
    """Jobs one service process runs at once."""
    poll_interval: float = Field(2.0, gt=0, le=300)
    """Fallback polling when no wake-up arrives (PostgreSQL LISTEN/NOTIFY, in-process)."""
    lease: float = Field(30.0, ge=1, le=3600)
    """Seconds a claimed job stays claimed without renewal; a dead worker's jobs return then."""
    retention: float = Field(86400.0, ge=0)
    """Seconds completed and discarded jobs are kept (idempotency keys hold this long)."""


class AwsSettings(BaseSettings):
    """Every AWS client (S3, KMS, SNS, SES, CloudWatch, Connect) is built from these."""

    model_config = _group("AICC_AWS_")

    region: str = Field("ap-northeast-2", validation_alias="AWS_REGION")
    connect_timeout: float = Field(3.0, gt=0)
    read_timeout: float = Field(30.0, gt=0)
    max_attempts: int = Field(5, ge=1, le=20)
    """Attempts per call, with botocore's adaptive retry mode."""


class HttpSettings(BaseSettings):
    """Outgoing HTTP: timeouts, pool limits and the server-side request forgery guard."""

    model_config = _group("AICC_HTTP_")

    connect_timeout: float = Field(3.0, gt=0)
    read_timeout: float = Field(10.0, gt=0)
    max_connections: int = Field(100, ge=1)
    max_keepalive_connections: int = Field(20, ge=0)
    http2: bool = True
    allow_private_networks: bool = Field(False, validation_alias="AICC_ALLOW_PRIVATE_NETWORKS")
    """In production, let user-supplied URLs reach loopback and private networks."""


class StorageSettings(BaseSettings):
    model_config = _group("S3_")

    bucket: str | None = None
    endpoint_url: str | None = None
    prefix: str = ""
    multipart_threshold: int = Field(8 * 1024 * 1024, ge=5 * 1024 * 1024)


class SecuritySettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    jwt_secret: SecretStr | None = Field(None, validation_alias="JWT_SECRET")
    encryption_key: SecretStr | None = Field(None, validation_alias="ENCRYPTION_KEY")
    previous_encryption_keys: SecretStr | None = Field(
        None, validation_alias="AICC_PREVIOUS_ENCRYPTION_KEYS"
    )
    """Comma-separated older master keys, kept for reading data keys they wrapped."""
    kms_key_id: str | None = Field(None, validation_alias="AICC_KMS_KEY_ID")
    """An AWS KMS key (id, ARN or alias) that wraps data keys instead of the local master key."""


class LogSettings(BaseSettings):
    model_config = _group("LOG_")

    level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    @field_validator("level", mode="before")
    @classmethod
    def _upper(cls, value: Any) -> Any:
        return value.upper() if isinstance(value, str) else value


class ConnectSettings(BaseSettings):
    model_config = _group("CONNECT_")

    instance_id: str | None = None


class Settings(BaseModel):
    """Everything a service needs to run, one group per subsystem."""

    server: ServerSettings
    database: DatabaseSettings
    redis: RedisSettings
    storage: StorageSettings
    security: SecuritySettings
    log: LogSettings
    connect: ConnectSettings
    auth: AuthSettings
    recording: RecordingSettings
    integration: IntegrationSettings
    monitoring: MonitoringSettings
    console: ConsoleSettings
    jobs: JobsSettings
    aws: AwsSettings
    http: HttpSettings

    @property
    def data_dir(self) -> Path:
        return self.server.data_dir.expanduser().resolve()

    @property
    def database_url(self) -> str:
        """The configured URL, or the embedded SQLite file in the data folder."""
        if self.database.url is not None:
            return self.database.url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'aicc.db'}"

    @property
    def embedded_database(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def redis_url(self) -> str | None:
        return self.redis.url.get_secret_value() if self.redis.url else None

    @property
    def object_store_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def auth_url(self) -> str:
        return self.service_url("auth")

    def local_url(self, port: int) -> str:
        """``http://`` this host's address (loopback when bound to every address) and ``port``."""
        host = self.server.host
        host = "127.0.0.1" if host in ("0.0.0.0", "", "::") else host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{port}"

    def port(self, wing: WingName) -> int:
        """The port ``wing`` listens on (``AICC_<WING>_PORT``)."""
        if wing == "console":
            return self.console.port
        return self.server.port(wing)

    def service_url(self, service: ServiceName) -> str:
        """Where ``service`` is reached from this process: ``AICC_AUTH_URL`` /
        ``AICC_CONSOLE_<SERVICE>_URL`` when set, otherwise this host's configured port."""
        configured = self.auth.url if service == "auth" else getattr(self.console, f"{service}_url")
        if configured:
            return str(configured).rstrip("/")
        return self.local_url(self.server.port(service))

    @property
    def token_issuer(self) -> str:
        return self.auth.issuer or self.auth_url

    @property
    def auto_migrate(self) -> bool:
        return self.server.auto_migrate


_SPEC_KEYS: dict[str, tuple[str, str]] = {
    "database_url": ("database", "url"),
    "redis_url": ("redis", "url"),
    "s3_bucket": ("storage", "bucket"),
    "s3_endpoint_url": ("storage", "endpoint_url"),
    "aws_region": ("aws", "region"),
    "jwt_secret": ("security", "jwt_secret"),
    "encryption_key": ("security", "encryption_key"),
    "connect_instance_id": ("connect", "instance_id"),
    "log_level": ("log", "level"),
    "data_dir": ("server", "data_dir"),
    "env": ("server", "env"),
    "host": ("server", "host"),
}
_GROUPS: dict[str, type[BaseSettings]] = {
    "server": ServerSettings,
    "database": DatabaseSettings,
    "redis": RedisSettings,
    "storage": StorageSettings,
    "security": SecuritySettings,
    "log": LogSettings,
    "connect": ConnectSettings,
    "auth": AuthSettings,
    "recording": RecordingSettings,
    "integration": IntegrationSettings,
    "monitoring": MonitoringSettings,
    "console": ConsoleSettings,
    "jobs": JobsSettings,
    "aws": AwsSettings,
    "http": HttpSettings,
}


def load_settings(
    overrides: Mapping[str, Any] | None = None, *, env_file: str | Path | None = ".env"
) -> Settings:
    """Read the environment (and ``env_file``), then apply ``overrides``.

    ``overrides`` takes the spec's config-dict keys (``database_url``, ``redis_url``,
    ``s3_bucket``, ``jwt_secret``, ``encryption_key``, ``prometheus_port``, ...) and
    ``<group>.<field>`` paths such as ``server.auth_port``.
    """
    per_group: dict[str, dict[str, Any]] = {name: {} for name in _GROUPS}
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        if key in _SPEC_KEYS:
            group, field = _SPEC_KEYS[key]
        elif key == "prometheus_port":
            group, field = "server", "monitoring_port"
        elif "." in key and key.split(".", 1)[0] in _GROUPS:
            group, field = key.split(".", 1)
        else:
            continue
        per_group[group][field] = value
    try:
        groups = {name: cls(_env_file=env_file, **per_group[name]) for name, cls in _GROUPS.items()}
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'value'}: {err['msg']}"
            for err in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    return Settings.model_validate(groups)


def check_production(settings: Settings) -> None:
    """Refuse embedded defaults and generated secrets when ``AICC_ENV=production``."""
    if settings.server.env != "production":
        return
    missing = []
    if settings.embedded_database:
        missing.append("DATABASE_URL (a PostgreSQL URL; SQLite is the embedded default)")
    if settings.redis_url is None:
        missing.append("REDIS_URL (the in-process cache cannot be shared by replicas)")
    if settings.storage.bucket is None:
        missing.append("S3_BUCKET (the local-disk object store is the embedded default)")
    if settings.security.encryption_key is None:
        missing.append("ENCRYPTION_KEY (a generated development key is refused in production)")
    if missing:
        raise ConfigError(
            "AICC_ENV=production refuses to start on embedded defaults; set: " + ", ".join(missing)
        )


def mask_url(url: str) -> str:
    """Hide the password in a URL, keeping scheme, user, host, port and path."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def effective_config(settings: Settings) -> dict[str, Any]:
    """The configuration as the service will use it, with secrets masked."""
    out: dict[str, Any] = {}
    for group in _GROUPS:
        values = getattr(settings, group).model_dump(mode="json")
        for key, value in values.items():
            raw = getattr(getattr(settings, group), key)
            if isinstance(raw, SecretStr):
                url = key == "url" or key.endswith("_url")
                values[key] = mask_url(raw.get_secret_value()) if url else "***"
            elif value is None and key == "encryption_key":
                values[key] = "(generated in the data folder)"
        out[group] = values
    out["database"]["effective_url"] = mask_url(settings.database_url)
    out["redis"]["backend"] = "redis" if settings.redis_url else "memory (in-process)"
    out["storage"]["backend"] = (
        f"s3://{settings.storage.bucket}"
        if settings.storage.bucket
        else str(settings.object_store_dir)
    )
    out["server"]["data_dir"] = str(settings.data_dir)
    out["auth"]["effective_url"] = settings.auth_url
    out["auth"]["sso_providers"] = [
        {k: ("***" if "secret" in k else v) for k, v in provider.items()}
        for provider in settings.auth.sso_providers
    ]
    return out
