"""Jinja2 templates (autoescaped everywhere) and the static files' cache-busting versions."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from importlib import resources
from typing import TYPE_CHECKING, Any

from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, StrictUndefined

from aicc import __version__
from aicc.console.i18n import LANGUAGE_NAMES, LANGUAGES, Messages, Translator
from aicc.console.navigation import Navigation

if TYPE_CHECKING:
    from aicc.console.dependencies import Visit

NO_STORE = {"Cache-Control": "no-store"}
"""Pages carry the user's data: never kept by the browser or a proxy (nor shown by Back
after signing out)."""


class Renderer:
    def __init__(self, messages: Messages, navigation: Navigation) -> None:
        self.messages = messages
        self.navigation = navigation
        self.env = Environment(
            loader=PackageLoader("aicc.console", "templates"),
            autoescape=True,
            undefined=StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            auto_reload=False,
        )
        self.static_versions = _static_versions()
        self.env.globals.update(
            static=self.static_url,
            languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
            version=__version__,
        )
        self.env.filters["number"] = format_number
        self.env.filters["when"] = format_when

    def static_url(self, name: str) -> str:
        version = self.static_versions.get(name, __version__)
        return f"/static/{name}?v={version}"

    def translator(self, lang: str) -> Translator:
        return self.messages.translator(lang)

    def render(self, template: str, **context: Any) -> str:
        return self.env.get_template(template).render(**context)

    def page(
        self,
        visit: Visit,
        template: str,
        *,
        status: int = 200,
        notice: str | None = None,
        **context: Any,
    ) -> HTMLResponse:
        """A whole page: the layout with the navigation this user may see."""
        user = visit.user
        current = self.navigation.current(visit.request.url.path)
        html = self.render(
            template,
            t=visit.t,
            lang=visit.lang,
            user=user,
            nav=self.navigation.visible_to(user),
            current_nav=current.path if current else None,
            csrf=visit.session.csrf if visit.session is not None else None,
            notice=notice,
            path=visit.request.url.path,
            **context,
        )
        return HTMLResponse(html, status_code=status, headers=NO_STORE)


def format_number(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if abs(value - round(value)) < 1e-9 and abs(value) >= 100:
        return f"{round(value):,}"
    return f"{value:,.{digits}f}"


def format_when(value: float | str | None, short: bool = False) -> str:
    """An instant (epoch seconds or ISO 8601) as local ``YYYY-MM-DD HH:MM:SS``; ``short``:
    only the time when it is today."""
    if value is None or value == "":
        return "–"
    try:
        if isinstance(value, int | float):
            moment = datetime.fromtimestamp(float(value), tz=UTC)
        else:
            moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    local = moment.astimezone()
    if short and local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M:%S")
    return local.strftime("%Y-%m-%d %H:%M:%S")


def _static_versions() -> dict[str, str]:
    """A short content hash per static file, so a new release's files are fetched anew."""
    versions: dict[str, str] = {}
    root = resources.files("aicc.console").joinpath("static")
    for entry in root.iterdir():
        if entry.is_file():
            versions[entry.name] = hashlib.sha256(entry.read_bytes()).hexdigest()[:10]
    return versions
