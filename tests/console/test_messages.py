"""Every visible string is translated: both languages have the same keys, and every key a
template or the console's code names exists."""

from __future__ import annotations

import re
from pathlib import Path

import aicc.console
from aicc.console.messages import CATALOGS

CONSOLE = Path(aicc.console.__file__).parent
_LITERAL = re.compile(r"""["']([a-z_]+)\.([a-z_0-9]+)["']""")


def test_both_languages_have_the_same_keys() -> None:
    for catalog in CATALOGS:
        assert set(catalog["ko"]) == set(catalog["en"])
        assert all(text.strip() for text in catalog["ko"].values())


def test_every_key_named_in_templates_and_code_exists() -> None:
    known = {key for catalog in CATALOGS for key in catalog["ko"]}
    areas = {key.split(".")[0] for key in known}
    sources = [*CONSOLE.rglob("*.html"), *CONSOLE.rglob("*.py")]
    named = {
        f"{area}.{name}"
        for path in sources
        if "messages" not in path.parts
        for area, name in _LITERAL.findall(path.read_text())
        if area in areas and name not in ("html", "py", "svg", "css", "js")
    }

    assert len(named) > 100
    assert named - known == set()


def test_placeholders_agree_between_languages() -> None:
    for catalog in CATALOGS:
        for key, korean in catalog["ko"].items():
            assert set(re.findall(r"{(\w+)}", korean)) == set(
                re.findall(r"{(\w+)}", catalog["en"][key])
            ), key
