"""The console's facade: what it builds at start and closes at stop."""

from __future__ import annotations

from collections.abc import Sequence

from aicc.console.i18n import Messages
from aicc.console.keeper import TokenKeeper
from aicc.console.live.collector import LiveFigures
from aicc.console.navigation import Navigation, NavItem
from aicc.console.rendering import Renderer
from aicc.console.sessions import SessionStore
from aicc.console.upstream import Upstreams
from aicc.core.config import Settings
from aicc.core.errors import ConfigError
from aicc.core.resources import Resources
from aicc.core.secrets import encryption_key, previous_encryption_keys
from aicc.core.service import ServiceBase


class ConsoleService(ServiceBase):
    """Operator console: health, alerts, recordings, integrations and users of the four
    services in one web app, for supervisors and administrators."""

    name = "console"
    title = "AICC Operator Console"
    backends = ("cache",)

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        resources: Resources | None = None,
        nav: Sequence[NavItem] = (),
    ) -> None:
        super().__init__(settings=settings, resources=resources)
        self._nav_items = tuple(nav)
        self._upstreams: Upstreams | None = None
        self._store: SessionStore | None = None
        self._keeper: TokenKeeper | None = None
        self._renderer: Renderer | None = None
        self._live: LiveFigures | None = None

    @property
    def upstreams(self) -> Upstreams:
        return self.require_started(self._upstreams)

    @property
    def store(self) -> SessionStore:
        return self.require_started(self._store)

    @property
    def keeper(self) -> TokenKeeper:
        return self.require_started(self._keeper)

    @property
    def renderer(self) -> Renderer:
        return self.require_started(self._renderer)

    @property
    def live(self) -> LiveFigures:
        return self.require_started(self._live)

    @property
    def cookie_secure(self) -> bool:
        configured = self.settings.console.cookie_secure
        return configured if configured is not None else self.settings.server.env != "development"

    @property
    def cookie_name(self) -> str:
        # The __Host- prefix makes browsers refuse the cookie unless Secure, Path=/ and no
        # Domain: no subdomain can set or shadow it.
        return "__Host-aicc_console" if self.cookie_secure else "aicc_console"

    def check_production(self) -> None:
        """The console keeps no data of its own: in production it needs only the shared
        cache (sessions across replicas) and the master key that seals them."""
        settings = self.settings
        if settings.server.env != "production":
            return
        missing = []
        if settings.redis_url is None:
            missing.append("REDIS_URL (console sessions must be shared by replicas)")
        if settings.security.encryption_key is None:
            missing.append("ENCRYPTION_KEY (it seals the sessions; a generated key is refused)")
        if missing:
            raise ConfigError(
                "AICC_ENV=production refuses to start the console on embedded defaults; set: "
                + ", ".join(missing)
            )

    async def on_start(self) -> None:
        settings = self.settings
        keys = [encryption_key(settings), *previous_encryption_keys(settings)]
        console = settings.console
        self._store = SessionStore(
            self.resources.cache,
            keys,
            idle_timeout=console.session_idle_timeout or settings.auth.session_idle_timeout,
            max_lifetime=settings.auth.session_max_lifetime,
        )
        self._upstreams = Upstreams.open(settings)
        self._keeper = TokenKeeper(self._upstreams, self.token_verifier, self._store)
        self._renderer = Renderer(Messages(), Navigation(self._nav_items))
        metrics_token = settings.monitoring.metrics_token
        self._live = LiveFigures(
            self.resources.cache,
            self._upstreams,
            interval=console.live_interval,
            metrics_token=metrics_token.get_secret_value() if metrics_token else None,
        )

    async def on_stop(self) -> None:
        if self._upstreams is not None:
            await self._upstreams.aclose()
        self._upstreams = self._store = self._keeper = self._renderer = self._live = None
