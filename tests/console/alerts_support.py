"""What the alerts pages' tests share: reading the console's pages (rows, field errors,
hidden form fields), posting forms with repeated fields, a rule that fires at once, and a
webhook receiver on loopback."""

from __future__ import annotations

import html
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlencode

import httpx2

from tests.console.stack import ADMIN, Stack
from tests.console.support import Browser

Unique = Callable[[str], str]
Api = Callable[..., httpx2.Response]
XSS = "<script>alert('rule')</script>"
XSS_ESCAPED = "&lt;script&gt;alert(&#39;rule&#39;)&lt;/script&gt;"


def epoch(value: str) -> float:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()


def rule_name(unique: Unique, prefix: str) -> str:
    return unique(prefix).replace("-", "_")


def wait_for(get: Callable[[], str], pattern: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while True:
        text = get()
        if re.search(pattern, text):
            return text
        assert time.monotonic() < deadline, f"{pattern!r} never appeared"
        time.sleep(0.3)


def row(page: str, attribute: str, value: str) -> str:
    """The table row whose ``attribute`` is ``value``."""
    found = re.search(rf'<tr [^>]*{attribute}="{re.escape(value)}".*?</tr>', page, re.S)
    assert found, f"no row with {attribute}={value!r}"
    return found[0]


def field_error(page: str, field: str) -> str:
    found = re.search(rf'<p class="field-error" id="{re.escape(field)}-error">(.*?)</p>', page)
    assert found, f"no error next to {field}"
    return html.unescape(found[1])


def post_form(browser: Browser, path: str, fields: list[tuple[str, str]]) -> httpx2.Response:
    """A form with repeated fields (``matcher``, ``channels``), as the browser sends it."""
    body = [("csrf_token", browser.csrf()), *fields]
    browser.last = browser.http.post(
        path,
        content=urlencode(body).encode(),
        headers={
            "Origin": browser.stack.url,
            "Content-Type": "application/x-www-form-urlencoded",
        },
    )
    return browser.last


def hidden_fields(form_html: str) -> list[tuple[str, str]]:
    return [
        (name, html.unescape(value))
        for name, value in re.findall(
            r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form_html
        )
        if name != "csrf_token"
    ]


def monitoring_api(stack: Stack) -> Api:
    """The monitoring API as the admin (to set up and to check what the console did)."""
    token = stack.api_token(*ADMIN)

    def call(method: str, path: str, **kwargs: Any) -> httpx2.Response:
        return stack.api(method, "monitoring", path, token, **kwargs)

    return call


@contextmanager
def firing_rule(
    api: Api, name: str, summary: str = f"CPU {XSS} at {{{{ $value }}}} %"
) -> Iterator[str]:
    """A rule that fires at its next evaluation (every second in this stack); by default
    with markup in its summary."""
    body = {
        "rule_name": name,
        "metric": "cpu_usage_percent",
        "threshold": 0,
        "operator": ">=",
        "level": "critical",
        "annotations": {"summary": summary},
    }
    created = api("POST", "/alerts/rules", json=body)
    assert created.status_code == 201, created.text
    try:
        yield name
    finally:
        api("DELETE", f"/alerts/rules/{name}")


def firing_row(browser: Browser, name: str) -> str:
    """The alert's row once it fires (the page stays ``browser.last``)."""
    page = wait_for(
        lambda: browser.get(f"/alerts?q={name}").text, rf'data-name="{name}" data-state="firing"'
    )
    return row(page, "data-name", name)


def last_page(browser: Browser) -> str:
    assert browser.last is not None
    return browser.last.text


class Receiver:
    """A webhook receiver on loopback that keeps each request's headers and body."""

    def __init__(self) -> None:
        received: list[tuple[dict[str, str], bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                received.append((dict(self.headers), self.rfile.read(length)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                return

        self.received = received
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def rule_form(name: str, **changes: str) -> dict[str, str]:
    return {
        "rule_name": name,
        "metric": "cpu_usage_percent",
        "aggregation": "",
        "window": "",
        "by": "",
        "operator": ">",
        "threshold": "95",
        "for": "5m",
        "keep_firing_for": "",
        "level": "warning",
        "labels": "",
        "matchers": "",
        "summary": "CPU at {{ $value }} %",
        "description": "",
        "annotations": "runbook_url=https://runbooks.example.com/cpu",
        **changes,
    }
