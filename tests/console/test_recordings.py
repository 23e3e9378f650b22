"""The recordings pages over HTTP, against recordings made through the recording service's
API as an integration makes them: search (filters, dates, cursor pages), an AGENT's own
recordings only, playback with ``Range`` through the console, download formats, a chat as a
conversation (escaped), legal hold with a reason (CSRF-checked), the access log."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from tests.console.recordings_support import Recorder, long_wav, name, wav_tone
from tests.console.stack import ADMIN, PASSWORD, Stack
from tests.console.support import Browser

XSS = '<img src=x onerror="alert(1)">'
CHAT: list[dict[str, Any]] = [
    {"sender": "system", "text": "Chat started"},
    {"sender": "customer", "text": "My order never arrived <script>alert('x')</script>"},
    {"sender": "bot", "text": "Let me find an agent for you."},
    {"sender": "agent", "text": "Sorry about that.\nIt ships today.", "attachments": ["s3://a"]},
]


@dataclass
class Library:
    recorder: Recorder
    agent_a: str
    agent_b: str
    customer: str
    wav: bytes
    voice_a: dict[str, Any]
    voice_b: dict[str, Any]
    chat_a: dict[str, Any]
    pages_agent: str
    pages: list[str]


@pytest.fixture(scope="module")
def library(stack: Stack) -> Library:
    recorder = Recorder(stack)
    agent_a, agent_b = name("agent-a"), name("agent-b")
    stack.create_user(agent_a, ["AGENT"])
    stack.create_user(agent_b, ["AGENT"])
    customer = name("cust") + XSS
    wav = wav_tone(2.0)
    voice_a = recorder.voice(agent_a, customer, name("call"), wav)
    voice_b = recorder.voice(agent_b, customer, name("call"), wav_tone(1.0, frequency=660))
    chat_a = recorder.chat(agent_a, name("cust"), name("chat"), CHAT)
    pages_agent = name("agent-p")
    pages = [recorder.chat(pages_agent, "c", name("p"), [])["recording_id"] for _ in range(12)]
    return Library(
        recorder, agent_a, agent_b, customer, wav, voice_a, voice_b, chat_a, pages_agent, pages
    )


@pytest.fixture
def admin(new_browser: Callable[..., Browser]) -> Browser:
    browser = new_browser()
    browser.sign_in_ok(*ADMIN)
    return browser


def listed(html: str) -> list[str]:
    return re.findall(r'data-recording="([0-9a-f]{32})"', html)


def next_link(html: str) -> str | None:
    found = re.search(r'<a href="([^"]+)" rel="next"', html)
    return found[1].replace("&amp;", "&") if found else None


def test_search_by_each_filter_and_page_with_the_cursor(admin: Browser, library: Library) -> None:
    first = admin.get(f"/recordings?agent={library.pages_agent}&size=10")
    assert first.status_code == 200
    page_one = listed(first.text)
    assert page_one == list(reversed(library.pages))[:10], "newest first"
    link = next_link(first.text)
    assert link is not None and "cursor=" in link and f"agent={library.pages_agent}" in link
    second = admin.get(link)
    assert listed(second.text) == list(reversed(library.pages))[10:]
    assert next_link(second.text) is None
    assert 'href="/recordings?agent=' in second.text, "a way back to the first page"

    by_customer = listed(admin.get("/recordings", params={"customer": library.customer}).text)
    assert set(by_customer) == {library.voice_a["recording_id"], library.voice_b["recording_id"]}
    session = library.voice_b["session_id"]
    assert listed(admin.get(f"/recordings?session={session}").text) == [
        library.voice_b["recording_id"]
    ]
    chats = listed(admin.get(f"/recordings?agent={library.agent_a}&type=chat").text)
    assert chats == [library.chat_a["recording_id"]]
    voices = listed(admin.get(f"/recordings?agent={library.agent_a}&type=voice").text)
    assert voices == [library.voice_a["recording_id"]]

    today, day = date.today(), timedelta(days=1)
    dated = f"/recordings?agent={library.agent_a}&from={today}&to={today}"
    assert len(listed(admin.get(dated).text)) == 2
    later = admin.get(f"/recordings?agent={library.agent_a}&from={today + day}")
    assert listed(later.text) == [] and "조건에 맞는 녹취가 없습니다." in later.text
    assert listed(admin.get(f"/recordings?agent={library.agent_a}&to={today - day}").text) == []

    bad = admin.get("/recordings?from=2026-13-01")
    assert bad.status_code == 200 and 'role="alert"' in bad.text and listed(bad.text) == []
    backwards = admin.get(f"/recordings?from={today}&to={today - day}")
    assert "종료일이 시작일보다 앞설 수 없습니다." in backwards.text
    tampered = admin.get("/recordings?cursor=not-a-cursor")
    assert tampered.status_code == 200 and 'role="alert"' in tampered.text

    # What the services hold is text on the page, never markup.
    assert XSS not in by_customer_html(admin, library)
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in by_customer_html(admin, library)


def by_customer_html(browser: Browser, library: Library) -> str:
    return browser.get("/recordings", params={"customer": library.customer}).text


def test_an_agent_sees_only_their_own(
    new_browser: Callable[..., Browser], library: Library
) -> None:
    agent = new_browser()
    agent.sign_in_ok(library.agent_a, PASSWORD)
    everything = agent.get("/recordings")
    assert everything.status_code == 200
    own = {library.voice_a["recording_id"], library.chat_a["recording_id"]}
    assert set(listed(everything.text)) == own
    assert 'id="agent"' not in everything.text and "본인의 녹취만 표시됩니다." in everything.text
    shared_customer = agent.get("/recordings", params={"customer": library.customer})
    assert listed(shared_customer.text) == [library.voice_a["recording_id"]]
    # The agent filter is not theirs to set: it is ignored, never widened.
    asked = agent.get(f"/recordings?agent={library.agent_b}")
    assert set(listed(asked.text)) == own
    assert agent.get(f"/recordings/{library.voice_a['recording_id']}").status_code == 200
    other = library.voice_b["recording_id"]
    assert agent.get(f"/recordings/{other}").status_code == 404
    assert library.agent_b not in agent.get(f"/recordings/{other}").text
    # Without recordings:download an AGENT sees the details but no player.
    own_page = agent.get(f"/recordings/{library.voice_a['recording_id']}")
    assert "<audio" not in own_page.text and "다운로드 권한" in own_page.text
    assert agent.get(f"/recordings/{library.voice_a['recording_id']}/audio").status_code == 403


def test_playback_passes_range_through_and_is_in_the_access_log(
    admin: Browser, library: Library
) -> None:
    rid = library.voice_a["recording_id"]
    page = admin.get(f"/recordings/{rid}")
    assert f'src="/recordings/{rid}/audio"' in page.text
    for html in (page.text, admin.get("/recordings").text):
        assert "eyJ" not in html, "no token in a page"
        assert not re.search(r"<script(?![^>]*\bsrc=)|<[^>]+\s(?:style|on[a-z]+)=", html)

    whole = admin.get(f"/recordings/{rid}/audio")
    assert whole.status_code == 200 and whole.content == library.wav
    assert whole.headers["accept-ranges"] == "bytes"
    assert whole.headers["content-disposition"].startswith("inline")

    part = admin.get(f"/recordings/{rid}/audio", headers={"Range": "bytes=1000-1999"})
    assert part.status_code == 206
    assert part.headers["content-range"] == f"bytes 1000-1999/{len(library.wav)}"
    assert part.headers["content-type"] == "audio/wav"
    assert part.content == library.wav[1000:2000]
    tail = admin.get(f"/recordings/{rid}/audio", headers={"Range": "bytes=-100"})
    assert tail.status_code == 206 and tail.content == library.wav[-100:]
    assert admin.get("/recordings/not-an-id/audio").status_code == 422, "ids only"
    beyond = admin.get(f"/recordings/{rid}/audio", headers={"Range": "bytes=99999999-"})
    assert beyond.status_code == 416
    assert beyond.headers["content-range"] == f"bytes */{len(library.wav)}"
    etag = whole.headers["etag"]
    stale = admin.get(
        f"/recordings/{rid}/audio", headers={"Range": "bytes=0-9", "If-Range": '"other"'}
    )
    assert stale.status_code == 200 and stale.content == library.wav
    fresh = admin.get(f"/recordings/{rid}/audio", headers={"Range": "bytes=0-9", "If-Range": etag})
    assert fresh.status_code == 206 and fresh.content == library.wav[:10]

    log = admin.get(f"/recordings/{rid}").text
    rows = re.findall(r'<tr data-event="played">(.*?)</tr>', log, re.S)
    assert any("1,000–1,999" in row and "ops-admin" in row for row in rows), rows
    assert 'data-event="downloaded"' in log and 'data-event="imported"' in log


@pytest.mark.parametrize(
    ("fmt", "media_type", "magic"),
    [
        ("wav", "audio/wav", lambda b: b[:4] == b"RIFF" and b[8:12] == b"WAVE"),
        ("flac", "audio/flac", lambda b: b[:4] == b"fLaC"),
        ("mp3", "audio/mpeg", lambda b: b[:3] == b"ID3" or (b[0] == 0xFF and b[1] & 0xE0 == 0xE0)),
        ("aac", "audio/mp4", lambda b: b[4:8] == b"ftyp"),
    ],
)
def test_download_in_a_chosen_format(
    admin: Browser,
    library: Library,
    fmt: str,
    media_type: str,
    magic: Callable[[bytes], bool],
) -> None:
    rid = library.voice_a["recording_id"]
    page = admin.get(f"/recordings/{rid}")
    assert f'<option value="{fmt}"' in page.text
    got = admin.get(f"/recordings/{rid}/download", params={"format": fmt})
    assert got.status_code == 200, got.text
    assert got.headers["content-type"].startswith(media_type)
    extension = "m4a" if fmt == "aac" else fmt
    assert got.headers["content-disposition"] == f'attachment; filename="{rid}.{extension}"'
    assert magic(got.content), got.content[:16]
    assert len(got.content) > 500


def test_a_chat_reads_as_a_conversation_with_text_escaped(admin: Browser, library: Library) -> None:
    rid = library.chat_a["recording_id"]
    page = admin.get(f"/recordings/{rid}")
    assert page.status_code == 200
    senders = re.findall(r'<li class="message message-(\w+)" data-sender="(\w+)">', page.text)
    assert senders == [(m["sender"], m["sender"]) for m in CHAT]
    assert "<script>alert('x')</script>" not in page.text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page.text
    assert "Sorry about that.\nIt ships today." in page.text
    assert len(re.findall(r"<time datetime=", page.text)) == len(CHAT)
    for speaker in ("고객", "상담원", "봇", "시스템"):
        assert f'<span class="speaker">{speaker}</span>' in page.text
    assert 'data-event="transcript_read"' in page.text, "reading it is logged, and shown"
    transcript = admin.get(f"/recordings/{rid}/download")
    assert transcript.status_code == 200
    assert transcript.headers["content-type"].startswith("application/json")
    assert [m["text"] for m in transcript.json()["messages"]] == [m["text"] for m in CHAT]


def test_legal_hold_needs_a_reason_the_permission_and_the_form(
    admin: Browser, new_browser: Callable[..., Browser], library: Library, stack: Stack
) -> None:
    rid = library.voice_b["recording_id"]
    page = admin.get(f"/recordings/{rid}")
    assert f'action="/recordings/{rid}/hold"' in page.text

    refused = admin.post(f"/recordings/{rid}/hold", {"reason": "x"}, csrf=None)
    assert refused.status_code == 403
    admin.get(f"/recordings/{rid}")
    cross = admin.post(f"/recordings/{rid}/hold", {"reason": "x"}, origin="https://evil.test")
    assert cross.status_code == 403
    assert library.recorder.metadata(rid)["legal_hold"] is False

    admin.get(f"/recordings/{rid}")
    empty = admin.post(f"/recordings/{rid}/hold", {"reason": "   "})
    assert empty.status_code == 422 and "보존 사유를 입력하세요." in empty.text
    assert library.recorder.metadata(rid)["legal_hold"] is False

    reason = f"Case 2026-77 {XSS}"
    placed = admin.post(f"/recordings/{rid}/hold", {"reason": reason})
    assert placed.status_code == 303 and placed.headers["location"] == f"/recordings/{rid}#hold"
    assert library.recorder.metadata(rid)["hold"]["reason"] == reason
    held = admin.get(f"/recordings/{rid}")
    assert "법적 보존을 설정했습니다." in held.text and 'data-testid="held"' in held.text
    assert XSS not in held.text and "Case 2026-77 &lt;img" in held.text
    assert 'data-event="hold_set"' in held.text
    assert f'action="/recordings/{rid}/hold/release"' in held.text

    supervisor_name = name("sup")
    stack.create_user(supervisor_name, ["SUPERVISOR"])
    supervisor = new_browser()
    supervisor.sign_in_ok(supervisor_name, PASSWORD)
    seen = supervisor.get(f"/recordings/{rid}")
    assert seen.status_code == 200 and 'data-testid="hold-reason"' in seen.text
    assert "/hold/release" not in seen.text and 'id="access-log"' not in seen.text
    assert supervisor.post(f"/recordings/{rid}/hold/release").status_code == 403
    assert library.recorder.metadata(rid)["legal_hold"] is True

    admin.get(f"/recordings/{rid}")
    released = admin.post(f"/recordings/{rid}/hold/release")
    assert released.status_code == 303
    assert library.recorder.metadata(rid)["legal_hold"] is False
    after = admin.get(f"/recordings/{rid}")
    assert "법적 보존을 해제했습니다." in after.text and 'data-event="hold_released"' in after.text


def test_a_viewer_reads_but_cannot_play(
    new_browser: Callable[..., Browser], library: Library, stack: Stack
) -> None:
    viewer_name = name("viewer")
    stack.create_user(viewer_name, ["VIEWER"])
    viewer = new_browser(**{"Accept-Language": "en-US,en;q=0.8"})
    viewer.sign_in_ok(viewer_name, PASSWORD)
    listing = viewer.get("/recordings").text
    assert 'href="/recordings"' in listing and "<h1>Recordings</h1>" in listing
    rid = library.voice_a["recording_id"]
    details = viewer.get(f"/recordings/{rid}").text
    assert "<audio" not in details
    assert "Playing or downloading needs the recording download permission." in details
    assert viewer.get(f"/recordings/{rid}/audio").status_code == 403
    assert viewer.get(f"/recordings/{rid}/download?format=mp3").status_code == 403
    assert viewer.post(f"/recordings/{rid}/hold", {"reason": "no"}).status_code == 403
    signed_out = new_browser()
    gone = signed_out.get(f"/recordings/{rid}/audio")
    assert gone.status_code == 303 and gone.headers["location"].startswith("/login")
    assert signed_out.get("/recordings").status_code == 303


def test_a_deleted_recording_keeps_its_record_and_nothing_to_play(
    admin: Browser, library: Library
) -> None:
    made = library.recorder.voice(library.agent_b, "c", name("gone"), wav_tone(0.5))
    rid = made["recording_id"]
    library.recorder.call("DELETE", f"/recordings/{rid}", json={"reason": "customer request"})
    page = admin.get(f"/recordings/{rid}")
    assert page.status_code == 200
    assert "이 녹취는 삭제되었습니다" in page.text and 'data-event="deleted"' in page.text
    assert "<audio" not in page.text and f'action="/recordings/{rid}/hold"' not in page.text
    assert admin.get(f"/recordings/{rid}/audio").status_code == 410


@pytest.fixture(scope="module")
def long_call(library: Library) -> tuple[str, int]:
    """About 4 MiB of audio (four and a half minutes at 8 kHz)."""
    audio = long_wav(270)
    made = library.recorder.voice(library.agent_a, "c", name("long"), audio)
    return made["recording_id"], len(audio)


def test_the_console_streams_without_holding_the_file(
    admin: Browser, long_call: tuple[str, int]
) -> None:
    rid, size = long_call
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        received = 0
        with admin.http.stream("GET", f"/recordings/{rid}/audio") as response:
            assert response.status_code == 200
            assert int(response.headers["content-length"]) == size
            for piece in response.iter_raw(64 * 1024):
                received += len(piece)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert received == size
    assert peak < 3 << 20, f"peak {peak / (1 << 20):.1f} MiB while streaming {size >> 20} MiB"
