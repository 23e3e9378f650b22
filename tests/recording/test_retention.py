"""Legal hold, deletion with a tombstone and crypto-shredding, the retention purge, search."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from aicc.core.keys import DataKeyDestroyed
from aicc.core.storage import ObjectNotFound
from aicc.recording import models
from tests.recording.conftest import Deployment
from tests.recording.support import bearer, error_code

AGENT = bearer("AGENT", user_id="u-agent", username="agent001")
SUPERVISOR = bearer("SUPERVISOR", user_id="u-sup", username="sup01")
ADMIN = bearer("ADMIN", user_id="u-admin", username="admin01")


async def _finished_chat(recording: Deployment, **start: object) -> str:
    body = {"session_id": "s-1", "agent_id": "agent001", "customer_id": "c-1", **start}
    started = await recording.http.post("/recordings/chat/start", json=body, headers=AGENT)
    recording_id: str = started.json()["recording_id"]
    await recording.http.post(
        f"/recordings/chat/{recording_id}/messages",
        json={"sender": "customer", "text": "hello"},
        headers=AGENT,
    )
    stopped = await recording.http.post(f"/recordings/chat/{recording_id}/stop", headers=AGENT)
    assert stopped.json()["status"] == "completed", stopped.text
    return recording_id


class TestHoldAndDelete:
    async def test_a_hold_blocks_deletion_until_released(self, recording: Deployment) -> None:
        recording_id = await _finished_chat(recording)
        url = f"/recordings/{recording_id}"
        assert (
            await recording.http.put(f"{url}/hold", json={"reason": "x"}, headers=SUPERVISOR)
        ).status_code == 403
        held = await recording.http.put(
            f"{url}/hold", json={"reason": "litigation 2026-17"}, headers=ADMIN
        )
        assert held.status_code == 200 and held.json()["legal_hold"] is True
        assert held.json()["hold"]["reason"] == "litigation 2026-17"
        refused = await recording.http.delete(url, headers=ADMIN)
        assert refused.status_code == 409 and error_code(refused) == "recording_on_hold"
        released = await recording.http.delete(f"{url}/hold", headers=ADMIN)
        assert released.json()["legal_hold"] is False
        again = await recording.http.delete(f"{url}/hold", headers=ADMIN)
        assert again.status_code == 409 and error_code(again) == "not_on_hold"

        deleted = await recording.http.request(
            "DELETE", url, json={"reason": "customer asked (PIPA art. 36)"}, headers=ADMIN
        )
        assert deleted.status_code == 200, deleted.text
        tombstone = deleted.json()
        assert tombstone["status"] == "deleted"
        assert tombstone["deleted"]["reason"] == "customer asked (PIPA art. 36)"
        assert tombstone["deleted"]["by"] == "u-admin"
        gone = await recording.http.get(f"{url}/download", headers=SUPERVISOR)
        assert gone.status_code == 410 and error_code(gone) == "recording_deleted"
        with pytest.raises(DataKeyDestroyed):
            await recording.service.data_keys.get(f"recording:{recording_id}")
        with pytest.raises(ObjectNotFound):
            await recording.service.resources.storage.head(
                f"recordings/{recording_id[:2]}/{recording_id}"
            )
        log = (await recording.http.get(f"{url}/access-log", headers=ADMIN)).json()["items"]
        events = [e["event"] for e in log]
        assert events[:3] == ["deleted", "hold_released", "hold_set"]
        second = await recording.http.delete(url, headers=ADMIN)
        assert second.status_code == 409 and error_code(second) == "recording_deleted"


async def _expire(recording: Deployment, recording_id: str) -> None:
    async with recording.service.resources.database.transaction() as conn:
        await conn.execute(
            update(models.item)
            .where(models.item.c.id == recording_id)
            .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
        )


class TestRetention:
    async def test_the_purge_shreds_expired_recordings_but_not_held_ones(
        self, recording: Deployment
    ) -> None:
        expired = await _finished_chat(recording, retention_days=30)
        held = await _finished_chat(recording, retention_days=30)
        kept = await _finished_chat(recording, retention_days=30)
        forever = await _finished_chat(recording)
        meta = (await recording.http.get(f"/recordings/{kept}", headers=ADMIN)).json()
        assert meta["expires_at"] is not None
        assert (await recording.http.get(f"/recordings/{forever}", headers=ADMIN)).json()[
            "expires_at"
        ] is None
        await _expire(recording, expired)
        await _expire(recording, held)
        await recording.http.put(
            f"/recordings/{held}/hold", json={"reason": "audit"}, headers=ADMIN
        )

        would = await recording.service.purge_expired(dry_run=True)
        assert [r["recording_id"] for r in would] == [expired]
        assert (await recording.http.get(f"/recordings/{expired}", headers=ADMIN)).json()[
            "status"
        ] == "completed"
        purged = await recording.service.purge_expired()
        assert [r["recording_id"] for r in purged] == [expired]
        tombstone = (await recording.http.get(f"/recordings/{expired}", headers=ADMIN)).json()
        assert tombstone["status"] == "deleted"
        assert tombstone["deleted"]["reason"] == "retention period ended"
        for alive in (held, kept, forever):
            assert (
                await recording.http.get(f"/recordings/{alive}/download", headers=ADMIN)
            ).status_code == 200
        assert await recording.service.purge_expired() == []


class TestSearch:
    async def test_filters_and_cursor_pages(self, recording: Deployment) -> None:
        ids = [await _finished_chat(recording, session_id=f"s-{i % 2}") for i in range(5)]
        first = await recording.http.get("/recordings", params={"limit": 2}, headers=ADMIN)
        page = first.json()
        seen = [r["recording_id"] for r in page["items"]]
        while page["next_cursor"]:
            page = (
                await recording.http.get(
                    "/recordings", params={"limit": 2, "cursor": page["next_cursor"]}, headers=ADMIN
                )
            ).json()
            seen += [r["recording_id"] for r in page["items"]]
        assert seen == list(reversed(ids))
        by_session = await recording.http.get(
            "/recordings", params={"session_id": "s-1", "type": "chat"}, headers=ADMIN
        )
        assert {r["recording_id"] for r in by_session.json()["items"]} == {ids[1], ids[3]}
        future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        none = await recording.http.get("/recordings", params={"from": future}, headers=ADMIN)
        assert none.json() == {"items": [], "next_cursor": None}
        for bad in ({"cursor": "!!"}, {"limit": 0}, {"type": "video"}, {"from": "yesterday"}):
            refused = await recording.http.get("/recordings", params=bad, headers=ADMIN)
            assert refused.status_code == 422, bad
        assert (await recording.http.get("/recordings")).status_code == 401
