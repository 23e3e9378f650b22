"""The overview: the four services' health, firing alerts, live figures, and the event stream
that keeps them current."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import httpx2
import pytest

from tests.console.stack import ADMIN, LIVE_INTERVAL, PASSWORD, Stack
from tests.console.support import Browser

Unique = Callable[[str], str]
SUMMARY = "<b>CPU</b> is busy & <script>alert(3)</script>"


def events(browser: Browser, wanted: int) -> list[tuple[str, str]]:
    """The first ``wanted`` events of the overview's stream as (name, data)."""
    found: list[tuple[str, str]] = []
    name, data = "", []
    with browser.http.stream("GET", "/overview/events") as response:
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
        for line in response.iter_lines():
            if line.startswith("event: "):
                name = line[7:]
            elif line.startswith("data: "):
                data.append(line[6:])
            elif line == "" and name:
                found.append((name, "\n".join(data)))
                name, data = "", []
                if len(found) >= wanted:
                    break
    return found


def wait_for(page: Callable[[], str], pattern: str, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = page()
        if re.search(pattern, text):
            return text
        assert time.monotonic() < deadline, f"{pattern!r} never appeared"
        time.sleep(LIVE_INTERVAL / 2)


class TestServicesAndFigures:
    def test_the_four_services_are_shown_healthy(self, browser: Browser) -> None:
        browser.sign_in_ok(*ADMIN)

        page = wait_for(lambda: browser.get("/").text, r'data-service="auth" data-state="ok"')

        for name in ("monitoring", "recording", "integration", "auth"):
            assert f'data-service="{name}" data-state="ok"' in page
        assert "database: 정상" in page
        assert "storage: 정상" in page

    def test_the_figures_have_values_and_charts(self, browser: Browser) -> None:
        browser.sign_in_ok(*ADMIN)

        page = wait_for(
            lambda: browser.get("/").text,
            r'data-figure="rps">\s*<div class="figure-head">\s*<span class="figure-label">'
            r'[^<]+</span>\s*<span class="figure-value">[0-9]',
        )

        for key in ("rps", "error_pct", "p95_ms", "cpu", "memory", "disk"):
            assert f'data-figure="{key}"' in page
        assert 'data-figure="in_queue"' not in page  # no Amazon Connect in this stack
        assert re.search(r'<polyline class="spark-line" points="[0-9.]+,[0-9.]+ ', page)
        assert 'role="img" aria-label="CPU: 현재 ' in page


class TestEventStream:
    def test_the_stream_sends_each_part_and_updates_every_interval(self, browser: Browser) -> None:
        browser.sign_in_ok(*ADMIN)

        found = events(browser, 10)

        names = [name for name, _ in found]
        assert names[:5] == ["health", "figures", "alerts", "tick", "health"]
        figures = [data for name, data in found if name == "figures"]
        assert len(figures) >= 2
        assert 'data-figure="cpu"' in figures[0]
        first_time = re.search(r'data-updated="([^"]+)"', figures[0])
        later_time = re.search(r'data-updated="([^"]+)"', figures[-1])
        assert first_time and later_time and first_time[1] != later_time[1]

    def test_a_viewer_gets_no_alerts_part(
        self, stack: Stack, browser: Browser, unique: Unique
    ) -> None:
        name = unique("watcher")
        stack.create_user(name, ["VIEWER"])
        browser.sign_in_ok(name, PASSWORD)

        names = [name for name, _ in events(browser, 3)]

        assert names == ["health", "figures", "tick"]

    def test_a_stream_whose_session_ends_tells_the_page_to_sign_in(self, browser: Browser) -> None:
        browser.sign_in_ok(*ADMIN)
        cookie = browser.session_id or ""
        browser.get("/")
        other_tab = httpx2.Client(base_url=browser.stack.url, follow_redirects=False)
        other_tab.cookies.set(browser.stack.service.cookie_name, cookie)
        seen: list[str] = []

        with browser.http.stream("GET", "/overview/events") as response:
            for line in response.iter_lines():
                seen.append(line)
                if line == "event: tick" and seen.count("event: tick") == 1:
                    signed_out = other_tab.post(
                        "/logout",
                        data={"csrf_token": browser.csrf()},
                        headers={"Origin": browser.stack.url},
                    )
                    assert signed_out.status_code == 303
                if line.startswith("data: /login"):
                    break

        assert "event: signout" in seen
        assert seen[-1] == "data: /login?next=/"
        other_tab.close()
        after = browser.get("/overview/events")
        assert after.status_code == 303
        assert after.headers["location"].startswith("/login")


class TestAlerts:
    @pytest.fixture
    def firing_rule(self, stack: Stack, unique: Unique) -> Iterator[str]:
        """A rule that fires at its first evaluation, with markup in its summary."""
        name = unique("console_cpu_seen").replace("-", "_")
        admin = stack.api_token(*ADMIN)
        created = stack.api(
            "POST",
            "monitoring",
            "/alerts/rules",
            admin,
            json={
                "rule_name": name,
                "metric": "cpu_usage_percent",
                "threshold": 0,
                "operator": ">=",
                "level": "critical",
                "for_seconds": 0,
                "annotations": {"summary": SUMMARY},
            },
        )
        assert created.status_code == 201, created.text
        yield name
        stack.api("DELETE", "monitoring", f"/alerts/rules/{name}", stack.api_token(*ADMIN))

    def test_a_firing_alert_is_listed_with_its_summary_as_text(
        self, browser: Browser, firing_rule: str
    ) -> None:
        browser.sign_in_ok(*ADMIN)

        page = wait_for(lambda: browser.get("/").text, re.escape(firing_rule))

        assert "<script>alert(3)</script>" not in page
        assert "&lt;b&gt;CPU&lt;/b&gt; is busy &amp; &lt;script&gt;alert(3)&lt;/script&gt;" in page
        assert 'class="badge badge-critical">심각<' in page
        streamed = dict(events(browser, 4))
        assert firing_rule in streamed["alerts"]
        assert "<script>alert(3)" not in streamed["alerts"]
