"""Settings groups of the services (the verification half of auth is read by every service).

Imported by :mod:`aicc.core.config`, which assembles them; nothing here is read at import time.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

Algorithm = Literal["EdDSA", "ES256"]
AudioFormat = Literal["wav", "flac", "mp3", "aac"]


def settings_group(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(
        env_prefix=prefix, env_file=".env", extra="ignore", populate_by_name=True
    )


_group = settings_group


def _eddsa_only() -> list[Algorithm]:
    return ["EdDSA"]


class AuthSettings(BaseSettings):
    """Token issuing and checking; every service reads the verification half."""

    model_config = _group("AICC_AUTH_")

    url: str | None = None
    """Where the auth service is reached (JWKS); defaults to the local auth port."""
    issuer: str | None = None
    audience: str = "aicc"
    access_token_ttl: int = Field(900, ge=60, le=86400)
    session_idle_timeout: int = Field(1800, ge=60)
    session_max_lifetime: int = Field(12 * 3600, ge=300)
    leeway: int = Field(30, ge=0, le=300)
    algorithms: Annotated[list[Algorithm], NoDecode] = Field(default_factory=_eddsa_only)
    """Asymmetric algorithms access tokens may use (HS256 only with ``JWT_SECRET``)."""
    jwks_min_refresh_interval: float = Field(30.0, ge=0)
    revocation_recheck_interval: float = Field(5.0, gt=0)
    lockout_threshold: int = Field(10, ge=1, le=100)
    lockout_window: int = Field(900, ge=1)
    lockout_duration: int = Field(900, ge=1)
    ip_failure_limit: int = Field(30, ge=1)
    ip_failure_window: int = Field(300, ge=1)
    mfa_required_roles: Annotated[list[str], NoDecode] = Field(default_factory=list)
    self_registration: bool = False
    password_hash_memory_kib: int = Field(19456, ge=8192)
    password_hash_time_cost: int = Field(2, ge=1)
    password_hash_threads: int | None = Field(None, ge=1, le=64)
    """Threads that hash passwords; default one per core the process may use."""
    bootstrap_admin_username: str = Field("admin", validation_alias="AICC_BOOTSTRAP_ADMIN_USERNAME")
    bootstrap_admin_password: SecretStr | None = Field(
        None, validation_alias="AICC_BOOTSTRAP_ADMIN_PASSWORD"
    )
    sso_providers: list[dict[str, Any]] = Field(default_factory=list)

    @field_validator("mfa_required_roles", mode="before")
    @classmethod
    def _split_roles(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [r.strip().upper() for r in value.split(",") if r.strip()]
        return value

    @field_validator("algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [a.strip() for a in value.split(",") if a.strip()]
        return value


class RecordingSettings(BaseSettings):
    """Call recordings and chat transcripts."""

    model_config = _group("AICC_RECORDING_")

    format: AudioFormat = "flac"
    """Format a voice recording is stored in when its start does not name one."""
    retention_voice_days: int = Field(0, ge=0)
    """Days a completed voice recording is kept; 0 keeps it until deleted."""
    retention_chat_days: int = Field(0, ge=0)
    idle_timeout: float = Field(300.0, ge=5)
    """A live recording that receives nothing this long is finalized (``ended_by: idle``)."""
    recovery_grace: float = Field(60.0, ge=5)
    """A live stream whose process died may reconnect this long before it is finalized."""
    import_max_bytes: int = Field(2 * 1024**3, ge=1024)
    stream_token_ttl: int = Field(3600, ge=60, le=86400)
    """Lifetime of the token in a recording's ``stream_url``."""
    stop_wait: float = Field(5.0, ge=0, le=60)
    """How long a stop waits for finalizing before answering ``finalizing``."""
    callback_url: str | None = None
    callback_secret: SecretStr | None = None
    """Key of the HMAC-SHA256 signature on status callbacks (required with a callback URL)."""


class IntegrationSettings(BaseSettings):
    """Delivery defaults of the integration service (each integration may override them)."""

    model_config = _group("AICC_INTEGRATION_")

    sync_timeout: float = Field(10.0, gt=0, le=120)
    """Deadline of a SYNC message, retries included."""
    max_attempts: int = Field(8, ge=1, le=100)
    """Provider calls an ASYNC message gets before it becomes a dead letter."""
    backoff_base: float = Field(2.0, gt=0, le=600)
    """First ASYNC retry waits up to this many seconds; each further one up to twice as long."""
    backoff_max: float = Field(3600.0, gt=0)
    token_margin: float = Field(60.0, ge=0, le=3600)
    """An access token this close to expiry is refreshed before use."""
    mask_fields: list[str] = Field(
        default_factory=lambda: [
            "card_number",
            "cvc",
            "password",
            "secret",
            "token",
            "account_number",
            "resident_registration_number",
        ]
    )
    """Payload and result fields every integration masks in its message log."""


class MonitoringSettings(BaseSettings):
    """Collection, evaluation and publishing of the monitoring service."""

    model_config = _group("AICC_MONITORING_")

    targets: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """``name=url`` pairs (comma-separated) of the services to scrape; empty: the other three
    services of the all-in-one deployment on their configured ports."""
    scrape_interval: float = Field(15.0, ge=1, le=3600)
    scrape_timeout: float = Field(5.0, gt=0, le=60)
    disk_paths: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Mount points whose usage is reported besides the data folder's file system."""
    eval_interval: float = Field(15.0, ge=0.5, le=3600, validation_alias="AICC_ALERT_EVAL_INTERVAL")
    cloudwatch_enabled: bool = Field(False, validation_alias="AICC_CLOUDWATCH_ENABLED")
    cloudwatch_namespace: str = Field(
        "AICC/ContactCenter", validation_alias="AICC_CLOUDWATCH_NAMESPACE"
    )
    connect_poll_interval: float = Field(15.0, ge=1, le=3600)
    """Seconds between Amazon Connect polls (when ``CONNECT_INSTANCE_ID`` is set)."""
    cloudwatch_interval: float = Field(60.0, ge=10, le=3600)
    """Seconds between CloudWatch publications (when enabled)."""
    metrics_token: SecretStr | None = Field(None, validation_alias="AICC_METRICS_TOKEN")
    """When set, ``GET /metrics`` of the monitoring service requires this bearer token."""

    @field_validator("targets", "disk_paths", mode="before")
    @classmethod
    def _comma_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


class ConsoleSettings(BaseSettings):
    """The operator console (a backend-for-frontend over the four services)."""

    model_config = _group("AICC_CONSOLE_")

    port: int = Field(8080, ge=0, le=65535)
    monitoring_url: str | None = None
    """Where the console reaches the monitoring service; defaults to this host's port."""
    recording_url: str | None = None
    integration_url: str | None = None
    cookie_secure: bool | None = None
    """Send the session cookie only over HTTPS; default: everywhere but ``AICC_ENV=development``."""
    session_idle_timeout: int | None = Field(None, ge=60)
    """Seconds a console session lasts without a request; default the auth service's
    ``AICC_AUTH_SESSION_IDLE_TIMEOUT``."""
    allowed_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """Origins (``https://console.example.com``) a form may be posted from besides the
    request's own; for a proxy that rewrites the ``Host`` header."""
    live_interval: float = Field(5.0, ge=0.5, le=300)
    """Seconds between the overview's live updates (server-sent events)."""
    stream_lifetime: float = Field(300.0, ge=5, le=3600)
    """Seconds one event stream lasts before the browser reconnects (to any replica)."""
    default_language: Literal["ko", "en"] = "ko"

    @field_validator("allowed_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.lstrip().startswith("["):
            return [o.strip().rstrip("/") for o in value.split(",") if o.strip()]
        return value
