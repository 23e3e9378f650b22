"""Message catalogs: one module per area, each a ``{"ko": {...}, "en": {...}}`` dict with
the same keys in both languages (a test checks it, and that every key a template uses
exists). A new page adds its module and lists it in ``CATALOGS``."""

from aicc.console.messages import (
    account,
    alerts,
    audit,
    common,
    integrations,
    overview,
    recordings,
    signin,
    users,
)

CATALOGS: tuple[dict[str, dict[str, str]], ...] = (
    common.MESSAGES,
    signin.MESSAGES,
    account.MESSAGES,
    overview.MESSAGES,
    alerts.MESSAGES,
    users.MESSAGES,
    audit.MESSAGES,
    recordings.MESSAGES,
    integrations.MESSAGES,
)

__all__ = ["CATALOGS"]
