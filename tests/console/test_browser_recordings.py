"""The recordings pages in Debian's Chromium (Playwright, the system browser): search, open a
recording, press play and watch ``currentTime`` advance, seek past what was loaded and see
the player ask the console for that ``Range``, read a chat; screenshots of each to
``.artifacts/console/``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.console.recordings_support import Recorder, long_wav, name
from tests.console.stack import ADMIN, Stack
from tests.console.test_browser import ARTIFACTS, Window, chromium, window  # noqa: F401

CHAT: list[dict[str, Any]] = [
    {"sender": "system", "text": "고객이 채팅을 시작했습니다."},
    {"sender": "customer", "text": "주문한 상품이 아직 안 왔어요. <b>주문번호</b> 2026-1201"},
    {"sender": "bot", "text": "상담원을 연결해 드릴게요."},
    {"sender": "agent", "text": "불편을 드려 죄송합니다.\n오늘 발송되도록 처리했습니다."},
    {"sender": "customer", "text": "감사합니다!"},
]


@pytest.fixture(scope="module")
def calls(stack: Stack) -> dict[str, Any]:
    """A nine-minute call (8 MiB: more than the player reads ahead) and a chat, of one agent."""
    recorder = Recorder(stack)
    agent = name("agent")
    customer = name("cust")
    voice = recorder.voice(agent, customer, name("call"), long_wav(540))
    chat = recorder.chat(agent, customer, name("chat"), CHAT)
    return {"agent": agent, "voice": voice, "chat": chat}


def shot(opened: Window, name: str) -> None:
    """The viewport (1280x800), as the docs show it."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    opened.page.screenshot(path=str(ARTIFACTS / f"{name}.png"))


def test_search_play_seek_and_read_a_chat(
    window: Window,  # noqa: F811
    stack: Stack,
    calls: dict[str, Any],
) -> None:
    page = window.page
    window.sign_in(*ADMIN)
    window.open("/recordings")
    page.fill("#agent", calls["agent"])
    page.press("#agent", "Enter")
    page.wait_for_url(re.compile(r"/recordings\?agent="))
    rows = page.locator("tr[data-recording]")
    assert rows.count() == 2
    shot(window, "recordings-search")

    audio_requests: list[dict[str, str]] = []

    def seen(request: Any) -> None:
        if request.url.endswith(f"/recordings/{calls['voice']['recording_id']}/audio"):
            audio_requests.append(request.headers)

    page.on("request", seen)
    voice = calls["voice"]["recording_id"]
    page.click(f"tr[data-recording='{voice}'] a")
    page.wait_for_url(f"**/recordings/{voice}")
    player = page.locator("audio[data-testid=player]")
    assert player.get_attribute("src") == f"/recordings/{voice}/audio"
    assert audio_requests == [], "nothing is fetched (nor logged) before play"

    box = player.bounding_box()
    assert box is not None
    page.mouse.click(box["x"] + 22, box["y"] + box["height"] / 2)  # the play button
    page.wait_for_function(
        "() => document.querySelector('audio').currentTime > 0.5", timeout=15_000
    )
    assert page.evaluate("() => document.querySelector('audio').paused") is False
    first = audio_requests[0].get("range", "")
    assert first.startswith("bytes=0-"), audio_requests

    duration = page.evaluate("() => document.querySelector('audio').duration")
    assert 539 < duration < 541
    before = len(audio_requests)
    page.evaluate("() => { document.querySelector('audio').currentTime = 500; }")
    page.wait_for_function(
        "() => document.querySelector('audio').currentTime > 500.5", timeout=15_000
    )
    seeks = [r.get("range", "") for r in audio_requests[before:]]
    starts = [int(m[1]) for r in seeks if (m := re.match(r"bytes=(\d+)-", r))]
    assert any(start > 7_000_000 for start in starts), seeks
    page.evaluate("() => document.querySelector('audio').pause()")
    shot(window, "recordings-detail")
    page.reload()
    played = page.locator("tr[data-event='played']")
    assert played.count() >= 2, "each range the player read is in the access log"
    window.shot("recordings-access-log")

    chat = calls["chat"]["recording_id"]
    window.open(f"/recordings/{chat}")
    bubbles = page.locator("ol.conversation li")
    assert bubbles.count() == len(CHAT)
    assert page.locator("ol.conversation b").count() == 0, "markup in a message is text"
    assert "<b>주문번호</b>" in bubbles.nth(1).inner_text()
    agent_box = page.locator("li.message-agent").bounding_box()
    customer_box = page.locator("li.message-customer").first.bounding_box()
    assert agent_box is not None and customer_box is not None
    assert agent_box["x"] > customer_box["x"], "the agent's side is on the right"
    shot(window, "recordings-chat")


def test_the_detail_page_fits_a_tablet(
    chromium: object,  # noqa: F811
    stack: Stack,
    calls: dict[str, Any],
) -> None:
    tablet = Window(chromium, stack, width=768, height=1024)
    try:
        tablet.sign_in(*ADMIN)
        for path in ("/recordings", f"/recordings/{calls['chat']['recording_id']}"):
            tablet.open(path)
            width = tablet.page.evaluate("() => document.documentElement.scrollWidth")
            assert width <= 768, path
        tablet.page.focus("#reason")
        tablet.page.keyboard.type("Audit 2026")
        tablet.page.keyboard.press("Tab")
        tablet.page.keyboard.press("Enter")
        tablet.page.wait_for_selector("[data-testid=held]")
        assert tablet.page.inner_text("[data-testid=hold-reason]") == "Audit 2026"
    finally:
        tablet.close()
    assert tablet.problems == []
