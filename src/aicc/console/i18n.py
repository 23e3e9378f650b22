"""Korean (the default) and English: the language of a request and its messages.

The language is the ``aicc_lang`` cookie when it names one we have, else the best match of
``Accept-Language``, else ``AICC_CONSOLE_DEFAULT_LANGUAGE``. Messages live in small catalogs
(``aicc.console.messages``), one module per area, each with a Korean and an English dict.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aicc.console.messages import CATALOGS

LANGUAGES = ("ko", "en")
LANGUAGE_NAMES = {"ko": "한국어", "en": "English"}
LANG_COOKIE = "aicc_lang"


def choose_language(cookie: str | None, accept_language: str | None, default: str) -> str:
    if cookie in LANGUAGES:
        return cookie
    for tag in _preferred(accept_language or ""):
        primary = tag.split("-", 1)[0]
        if primary in LANGUAGES:
            return primary
    return default


def _preferred(header: str) -> list[str]:
    weighted: list[tuple[float, int, str]] = []
    for index, part in enumerate(header.split(",")[:20]):
        pieces = part.strip().split(";")
        tag = pieces[0].strip().lower()
        if not tag or tag == "*":
            continue
        quality = 1.0
        for param in pieces[1:]:
            name, _, value = param.strip().partition("=")
            if name == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            weighted.append((-quality, index, tag))
    return [tag for _, _, tag in sorted(weighted)]


class Translator:
    """``t("key", name=...)``: the message in one language, ``{name}`` filled in."""

    def __init__(self, lang: str, catalog: Mapping[str, str]) -> None:
        self.lang = lang
        self.catalog = catalog

    def __call__(self, key: str, **values: Any) -> str:
        text = self.catalog.get(key)
        if text is None:
            return key
        return text.format(**values) if values else text

    def has(self, key: str) -> bool:
        return key in self.catalog


class Messages:
    """Every catalog merged per language (built once at start)."""

    def __init__(self) -> None:
        merged: dict[str, dict[str, str]] = {lang: {} for lang in LANGUAGES}
        for catalog in CATALOGS:
            for lang in LANGUAGES:
                merged[lang].update(catalog[lang])
        self._translators = {lang: Translator(lang, merged[lang]) for lang in LANGUAGES}

    def translator(self, lang: str) -> Translator:
        return self._translators.get(lang, self._translators[LANGUAGES[0]])
