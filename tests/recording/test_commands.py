"""``aicc recording purge [--dry-run]`` and ``aicc recording rotate-key`` as an operator runs
them."""

from __future__ import annotations

import base64
import json
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import update

from aicc.core.config import load_settings
from aicc.recording import RecordingService, models
from tests.processes import aicc_env, run_aicc


async def _expired_chat(env: dict[str, str], tmp_path: Path) -> str:
    settings = load_settings(
        {"data_dir": env["AICC_DATA_DIR"], "encryption_key": env["ENCRYPTION_KEY"]}, env_file=None
    )
    service = RecordingService(settings=settings)
    await service.start()
    try:
        rid = await service.start_chat("s-1", "agent001", "c-1", retention_days=30)
        await service.add_chat_message(rid, {"sender": "customer", "text": "hello"})
        assert (await service.stop_chat(rid, wait=20))["status"] == "completed"
        async with service.resources.database.transaction() as conn:
            await conn.execute(
                update(models.item)
                .where(models.item.c.id == rid)
                .values(expires_at=datetime.now(UTC) - timedelta(days=1))
            )
    finally:
        await service.stop()
    return rid


async def test_purge_lists_then_deletes(tmp_path: Path) -> None:
    env = aicc_env(tmp_path, ENCRYPTION_KEY=base64.b64encode(os.urandom(32)).decode())
    rid = await _expired_chat(env, tmp_path)
    listed = run_aicc("recording", "purge", "--dry-run", env=env, cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    dry = json.loads(listed.stdout)
    assert dry["dry_run"] is True and [r["recording_id"] for r in dry["recordings"]] == [rid]
    done = json.loads(run_aicc("recording", "purge", env=env, cwd=tmp_path).stdout)
    assert done["count"] == 1
    again = json.loads(run_aicc("recording", "purge", env=env, cwd=tmp_path).stdout)
    assert again["count"] == 0


async def test_rotate_key_rewraps_under_the_new_master_key(tmp_path: Path) -> None:
    old = base64.b64encode(os.urandom(32)).decode()
    env = aicc_env(tmp_path, ENCRYPTION_KEY=old)
    await _expired_chat(env, tmp_path)
    new_env = {
        **env,
        "ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
        "AICC_PREVIOUS_ENCRYPTION_KEYS": old,
    }
    rotated = run_aicc("recording", "rotate-key", env=new_env, cwd=tmp_path)
    assert rotated.returncode == 0, rotated.stderr
    assert json.loads(rotated.stdout)["rewrapped"] == 1
    status = json.loads(
        run_aicc(
            "keys", "status", env={**new_env, "AICC_PREVIOUS_ENCRYPTION_KEYS": ""}, cwd=tmp_path
        ).stdout
    )
    assert list(status["data_keys"]) == [status["writing_kek_id"]]
