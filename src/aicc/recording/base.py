"""State and helpers that every part of the recording facade shares.

The facade ``RecordingService`` is assembled from mixins, one per concern (capture,
finalizing, access, chat, retention), all built on this base.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any, ClassVar, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from sqlalchemy.ext.asyncio import AsyncConnection

from aicc.core.crypto import derive_key
from aicc.core.errors import Forbidden, Unauthorized, ValidationFailed
from aicc.core.keys import DataKeys
from aicc.core.secrets import encryption_key
from aicc.core.service import Backend, ServiceBase
from aicc.core.tokens import Principal
from aicc.recording.catalog import insert_item, new_id, object_ref, sees_everything
from aicc.recording.metrics import RecordingMetrics
from aicc.recording.spool_writer import SpoolWriter

M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], values: dict[str, Any]) -> M:
    """Check Python-API arguments with the same model the HTTP API uses (422 naming fields)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        details = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        raise ValidationFailed("Invalid recording parameters", details=details) from None


class RecordingBase(ServiceBase):
    """Call recordings and chat transcripts: encrypted object storage, search, playback and
    retention."""

    name = "recording"
    title = "AICC Recording"
    backends: ClassVar[tuple[Backend, ...]] = ("database", "cache", "storage")

    _stream_key: bytes | None = None
    _spool_writer: SpoolWriter | None = None
    _recording_metrics: RecordingMetrics | None = None

    @property
    def recording_metrics(self) -> RecordingMetrics:
        if self._recording_metrics is None:
            self._recording_metrics = RecordingMetrics(self.metrics.registry)
        return self._recording_metrics

    @property
    def spool_writer(self) -> SpoolWriter:
        return self.require_started(self._spool_writer)

    @property
    def data_keys(self) -> DataKeys:
        return self.resources.data_keys

    async def data_key(self, recording_id: str) -> bytes:
        return await self.data_keys.get(object_ref(recording_id))

    async def create_recording(
        self, conn: AsyncConnection, body: Any, *, caller: Principal | None, **values: Any
    ) -> tuple[str, bytes]:
        """A new recording row for ``body`` (who: session, agent, customer, retention) and its
        own data key, in ``conn``'s transaction; returns its id and the plaintext key."""
        self.check_recordable_by(caller, body.agent_id)
        recording_id = new_id()
        key = await self.data_keys.create(object_ref(recording_id), conn=conn)
        await insert_item(
            conn,
            id=recording_id,
            session_id=body.session_id,
            agent_id=body.agent_id,
            customer_id=body.customer_id,
            created_by=caller.user_id if caller else None,
            retention_days=body.retention_days,
            spool_seq=0,
            **values,
        )
        return recording_id, key

    async def on_start(self) -> None:
        self._stream_key = derive_key(encryption_key(self.settings), "aicc-recording-streams")
        await self.on_recording_started()
        self._spool_writer = SpoolWriter(
            self.resources.database, stored=self.recording_metrics.live
        )
        self._spool_writer.start()

    async def on_stop(self) -> None:
        if self._spool_writer is not None:
            await self._spool_writer.stop()
            self._spool_writer = None

    async def on_recording_started(self) -> None:
        """Hook for the assembled facade."""

    def stream_token(self, recording_id: str) -> tuple[str, int]:
        """A token that lets a telephony platform stream into this one recording (it cannot set
        headers, so the token rides in the URL); returns it and its expiry (epoch seconds)."""
        expires = int(time.time()) + self.settings.recording.stream_token_ttl
        body = _b64(orjson.dumps({"rid": recording_id, "exp": expires}))
        return f"{body}.{self._sign(body)}", expires

    def check_stream_token(self, token: str, recording_id: str) -> None:
        body, _, signature = token.partition(".")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            raise Unauthorized("Invalid stream token", code="invalid_stream_token")
        try:
            claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
        except ValueError:
            raise Unauthorized("Invalid stream token", code="invalid_stream_token") from None
        if claims.get("rid") != recording_id:
            raise Unauthorized("The token is for another recording", code="invalid_stream_token")
        if int(claims.get("exp", 0)) < time.time():
            raise Unauthorized("The stream token has expired", code="stream_token_expired")

    def _sign(self, body: str) -> str:
        key = self.require_started(self._stream_key)
        return _b64(hmac.new(key, body.encode(), hashlib.sha256).digest())

    @staticmethod
    def check_recordable_by(caller: Principal | None, agent_id: str) -> None:
        """An AGENT records only calls they take themselves."""
        if sees_everything(caller):
            return
        assert caller is not None
        if agent_id not in {caller.user_id, caller.username}:
            raise Forbidden("Agents record only their own calls", code="recording_not_yours")


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")
