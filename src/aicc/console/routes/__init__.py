"""The console's pages. A new page is a module here with a ``PAGE`` (its router from
``page_router()`` and, if it has one, its navigation item), listed in ``PAGES``."""

from aicc.console.navigation import Page
from aicc.console.routes import (
    account,
    alerts,
    audit,
    integrations,
    language,
    mfa,
    overview,
    recordings,
    recordings_media,
    sessions,
    signin,
    users,
    users_detail,
)

PAGES: tuple[Page, ...] = (
    signin.PAGE,
    language.PAGE,
    overview.PAGE,
    alerts.PAGE,
    account.PAGE,
    mfa.PAGE,
    sessions.PAGE,
    users.PAGE,
    users_detail.PAGE,
    audit.PAGE,
    recordings.PAGE,
    recordings_media.PAGE,
    integrations.PAGE,
)

__all__ = ["PAGES"]
