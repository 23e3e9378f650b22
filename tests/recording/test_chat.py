"""Chat transcripts through the HTTP API: messages in order, a compressed and encrypted
transcript, permissions, and the access log."""

from __future__ import annotations

from typing import Any

import pytest

from tests.recording.conftest import Deployment
from tests.recording.support import bearer, error_code

AGENT = bearer("AGENT", user_id="u-agent", username="agent001")
SUPERVISOR = bearer("SUPERVISOR", user_id="u-sup", username="sup01")
ADMIN = bearer("ADMIN", user_id="u-admin", username="admin01")
START = {"session_id": "chat-session-1", "agent_id": "agent001", "customer_id": "cust-9"}


async def _chat(recording: Deployment, messages: list[dict[str, Any]], **query: str) -> str:
    started = await recording.http.post("/recordings/chat/start", json=START, headers=AGENT)
    assert started.status_code == 201, started.text
    recording_id: str = started.json()["recording_id"]
    for message in messages:
        added = await recording.http.post(
            f"/recordings/chat/{recording_id}/messages", json=message, headers=AGENT
        )
        assert added.status_code == 201, added.text
    stopped = await recording.http.post(
        f"/recordings/chat/{recording_id}/stop", params=query, headers=AGENT
    )
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["status"] == "completed"
    return recording_id


CONVERSATION: list[dict[str, Any]] = [
    {"sender": "customer", "text": "안녕하세요, 주문 조회 부탁드립니다."},
    {"sender": "bot", "text": "주문 번호를 알려주세요."},
    {"sender": "customer", "text": "A-1024", "attachments": ["uploads/receipt-1.png"]},
    {
        "sender": "agent",
        "text": "확인했습니다. 내일 도착합니다.",
        "sent_at": "2026-12-01T10:00:00Z",
    },
]


class TestTranscript:
    @pytest.mark.parametrize("compression", ["zstd", "gzip"])
    async def test_messages_come_back_in_order(
        self, recording: Deployment, compression: str
    ) -> None:
        recording_id = await _chat(recording, CONVERSATION, compression=compression)
        download = await recording.http.get(
            f"/recordings/{recording_id}/download", headers=SUPERVISOR
        )
        assert download.status_code == 200, download.text
        transcript = download.json()
        assert transcript["session_id"] == "chat-session-1"
        assert [m["text"] for m in transcript["messages"]] == [m["text"] for m in CONVERSATION]
        assert [m["seq"] for m in transcript["messages"]] == [0, 1, 2, 3]
        assert transcript["messages"][2]["attachments"] == ["uploads/receipt-1.png"]
        assert transcript["messages"][3]["sent_at"].startswith("2026-12-01T10:00:00")
        metadata = (await recording.http.get(f"/recordings/{recording_id}", headers=AGENT)).json()
        assert metadata["type"] == "chat" and metadata["message_count"] == 4
        assert metadata["compression"] == compression and len(metadata["sha256"]) == 64

    async def test_nothing_readable_is_stored(self, recording: Deployment) -> None:
        recording_id = await _chat(recording, CONVERSATION)
        metadata = (await recording.http.get(f"/recordings/{recording_id}", headers=AGENT)).json()
        service = recording.service
        row_key = f"recordings/{recording_id[:2]}/{recording_id}"
        stored = await (await service.resources.storage.get(row_key)).read()
        assert stored.startswith(b"AICCREC")
        assert "주문".encode() not in stored and b"A-1024" not in stored
        assert metadata["customer_id"].encode() not in row_key.encode()

    async def test_stopping_twice_is_a_conflict(self, recording: Deployment) -> None:
        recording_id = await _chat(recording, [])
        again = await recording.http.post(f"/recordings/chat/{recording_id}/stop", headers=AGENT)
        assert again.status_code == 409 and error_code(again) == "recording_state"
        late = await recording.http.post(
            f"/recordings/chat/{recording_id}/messages", json=CONVERSATION[0], headers=AGENT
        )
        assert late.status_code == 409


class TestRules:
    async def test_bad_messages_get_clear_errors(self, recording: Deployment) -> None:
        started = await recording.http.post("/recordings/chat/start", json=START, headers=AGENT)
        recording_id = started.json()["recording_id"]
        url = f"/recordings/chat/{recording_id}/messages"
        for body in (
            {"sender": "robot", "text": "x"},
            {"sender": "agent"},
            {"sender": "agent", "text": "x", "colour": "red"},
            {"sender": "agent", "text": "x" * 20001},
        ):
            refused = await recording.http.post(url, json=body, headers=AGENT)
            assert refused.status_code == 422, body
            assert error_code(refused) == "validation_error"
        unknown = await recording.http.post(
            "/recordings/chat/" + "0" * 32 + "/messages", json=CONVERSATION[0], headers=AGENT
        )
        assert unknown.status_code == 404 and error_code(unknown) == "recording_not_found"

    async def test_an_agent_keeps_to_their_own(self, recording: Deployment) -> None:
        other = {**START, "agent_id": "agent777"}
        refused = await recording.http.post("/recordings/chat/start", json=other, headers=AGENT)
        assert refused.status_code == 403 and error_code(refused) == "recording_not_yours"
        by_supervisor = await recording.http.post(
            "/recordings/chat/start", json=other, headers=SUPERVISOR
        )
        theirs = by_supervisor.json()["recording_id"]
        hidden = await recording.http.get(f"/recordings/{theirs}", headers=AGENT)
        assert hidden.status_code == 404
        mine = await _chat(recording, [])
        listed = (await recording.http.get("/recordings", headers=AGENT)).json()["items"]
        assert [r["recording_id"] for r in listed] == [mine]
        everything = (await recording.http.get("/recordings", headers=SUPERVISOR)).json()
        assert {r["recording_id"] for r in everything["items"]} == {mine, theirs}

    async def test_reading_a_transcript_needs_the_download_permission_and_is_logged(
        self, recording: Deployment
    ) -> None:
        recording_id = await _chat(recording, CONVERSATION)
        denied = await recording.http.get(f"/recordings/{recording_id}/download", headers=AGENT)
        assert denied.status_code == 403
        read = await recording.http.get(f"/recordings/{recording_id}/download", headers=SUPERVISOR)
        assert read.status_code == 200
        log = await recording.http.get(f"/recordings/{recording_id}/access-log", headers=ADMIN)
        events = [e["event"] for e in log.json()["items"]]
        assert events[0] == "transcript_read" and "started" in events and "completed" in events
        reader = log.json()["items"][0]
        assert reader["actor_id"] == "u-sup" and reader["ip_address"]
        assert (
            await recording.http.get(f"/recordings/{recording_id}/access-log", headers=SUPERVISOR)
        ).status_code == 403
        huge = await recording.http.get(
            f"/recordings/{recording_id}/access-log", params={"before": 2**80}, headers=ADMIN
        )
        assert huge.status_code == 422 and error_code(huge) == "validation_error"
