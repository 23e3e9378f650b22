"""The recording service's requests: a live call sent over HTTP, a real WAV imported from a
file, a chat transcript, the library (search, download with Range, access log, legal hold,
deletion) and the status-callback jobs the local receiver refuses."""

from __future__ import annotations

from postman_spec import POLL, Req, check

COMMON = {
    "recording_id": "string",
    "type": "string",
    "status": "string",
    "session_id": "string",
    "agent_id": "string",
    "customer_id": "string",
    "source": "string",
    "started_at": "string",
    "legal_hold": "boolean",
    "key_id": "string|null",
}
"""Metadata every recording has; voice recordings add how the audio is kept."""
METADATA = COMMON | {
    "format": "string|null",
    "sample_rate": "number|null",
    "channels": "number|null",
    "duration_seconds": "number|null",
}
JOB = {
    "id": "number",
    "kind": "string",
    "payload": "object",
    "state": "string",
    "attempt": "number",
    "max_attempts": "number",
    "run_at": "string",
    "created_at": "string",
    "last_error": "string|null",
}
PARTIES = {"agent_id": "agent-007", "customer_id": "cust-42"}
CHUNK = "AICC" * 400
"""1,600 bytes of 16-bit PCM (0.1 s at 8 kHz, mono): any bytes are samples."""
VOICE = "{{recording_url}}/recordings/voice/{{voice_id}}"
CHAT = "{{recording_url}}/recordings/chat/{{chat_id}}"
R = "{{recording_url}}/recordings"


def _audio(
    name: str,
    offset: str,
    status: int,
    shape: dict[str, str] | None = None,
    tests: str = "",
    error: str | None = None,
) -> Req:
    return Req(
        name,
        "POST",
        f"{VOICE}/audio",
        status,
        shape or {},
        error=error,
        raw=CHUNK,
        content_type="application/octet-stream",
        query=[("offset", offset)],
        tests=tests,
    )


RECORDING = [
    Req(
        "Liveness",
        "GET",
        "{{recording_url}}/health",
        200,
        {"status": "string", "service": "string", "version": "string"},
        auth="none",
        tests=check('body.service === "recording"', "the recording service"),
    ),
    Req(
        "Readiness",
        "GET",
        "{{recording_url}}/health/ready",
        200,
        {"status": "string", "checks": "object", "checks.storage": "object"},
        auth="none",
    ),
    Req(
        "Prometheus metrics",
        "GET",
        "{{recording_url}}/metrics",
        200,
        auth="none",
        media="other",
        tests=check('pm.response.text().includes("aicc_api_requests_total")', "request metrics"),
    ),
    Req(
        "Start a voice recording",
        "POST",
        f"{R}/voice/start",
        201,
        {
            "recording_id": "string",
            "status": "string",
            "stream_url": "string",
            "stream_token_expires_at": "string",
            "format": "string",
            "sample_rate": "number",
            "channels": "number",
            "encoding": "string",
        },
        json={"session_id": "pm-call-{{run_id}}", **PARTIES, "format": "wav", "channels": 1},
        save={"voice_id": "recording_id"},
        tests=check(
            'body.stream_url.startsWith("ws") && body.stream_url.includes("token=")',
            "a WebSocket URL with its own token",
        ),
    ),
    _audio(
        "Send 0.1 s of audio at offset 0",
        "0",
        200,
        shape={"recording_id": "string", "received_bytes": "number", "duplicate": "boolean"},
        tests=check("body.received_bytes === 1600 && body.duplicate === false", "stored"),
    ),
    _audio(
        "The same chunk again is stored once",
        "0",
        200,
        shape={"received_bytes": "number", "duplicate": "boolean"},
        tests=check("body.received_bytes === 1600 && body.duplicate === true", "a duplicate"),
    ),
    _audio("A chunk after a gap is refused", "99999", 409, error="offset_gap"),
    Req(
        "Pause (PCI)",
        "POST",
        f"{VOICE}/pause",
        200,
        METADATA,
        tests=check('body.status === "paused"', "paused"),
    ),
    Req(
        "Resume",
        "POST",
        f"{VOICE}/resume",
        200,
        METADATA,
        tests=check('body.status === "recording"', "recording"),
    ),
    Req(
        "Stop and finalize",
        "POST",
        f"{VOICE}/stop",
        200,
        METADATA | {"sha256": "string", "size_bytes": "number", "completed_at": "string"},
        tests=check('body.status === "completed" && body.ended_by === "stop"', "completed"),
    ),
    Req(
        "Stopping twice is refused",
        "POST",
        f"{VOICE}/stop",
        409,
        error="recording_state",
    ),
    Req(
        "Import a WAV file (0.25 s, 8 kHz)",
        "POST",
        f"{R}/import",
        201,
        METADATA | {"metadata_url": "string", "sha256": "string"},
        file="tone.wav",
        content_type="audio/wav",
        query=[("session_id", "pm-import-{{run_id}}"), *PARTIES.items()],
        save={"import_id": "recording_id"},
        tests=check(
            'body.source === "import" && body.format === "wav" && body.duration_seconds === 0.25',
            "the file's format and length",
        ),
    ),
    Req(
        "Importing something that is not audio is refused",
        "POST",
        f"{R}/import",
        422,
        error="not_audio",
        raw="this is a text file, not a recording",
        content_type="application/octet-stream",
        query=[("session_id", "pm-import-{{run_id}}"), *PARTIES.items()],
    ),
    Req(
        "Start a chat transcript",
        "POST",
        f"{R}/chat/start",
        201,
        {"recording_id": "string", "status": "string", "type": "string"},
        json={"session_id": "pm-chat-{{run_id}}", **PARTIES},
        save={"chat_id": "recording_id"},
    ),
    Req(
        "The customer writes",
        "POST",
        f"{CHAT}/messages",
        201,
        {"recording_id": "string", "seq": "number"},
        json={"sender": "customer", "text": "안녕하세요, 배송 조회 부탁드립니다."},
    ),
    Req(
        "The agent answers",
        "POST",
        f"{CHAT}/messages",
        201,
        {"recording_id": "string", "seq": "number"},
        json={"sender": "agent", "text": "네, 주문 번호를 알려주시겠어요?"},
        tests=check("body.seq === 1", "after the first (0)"),
    ),
    Req(
        "Stop the chat (compressed, encrypted transcript)",
        "POST",
        f"{CHAT}/stop",
        200,
        COMMON | {"message_count": "number", "compression": "string", "sha256": "string"},
        query=[("compression", "gzip")],
        tests=check('body.message_count === 2 && body.compression === "gzip"', "two messages"),
    ),
    Req(
        "Search recordings",
        "GET",
        R,
        200,
        {"items": "array", "next_cursor": "string|null", "items.0.recording_id": "string"},
        query=[("session_id", "pm-call-{{run_id}}"), ("type", "voice"), ("limit", "10")],
        tests=check(
            "body.items.length === 1 && body.items[0].recording_id === "
            'pm.collectionVariables.get("voice_id")',
            "the call",
        ),
    ),
    Req("A recording's metadata", "GET", R + "/{{voice_id}}", 200, METADATA),
    Req(
        "Download the first bytes (Range)",
        "GET",
        R + "/{{import_id}}/download",
        206,
        headers={"Range": "bytes=0-11"},
        media="other",
        tests=check(
            'pm.response.headers.get("Content-Type") === "audio/wav" && '
            'pm.response.text().startsWith("RIFF") && '
            'pm.response.headers.get("Content-Range").startsWith("bytes 0-11/")',
            "the WAV header",
        ),
    ),
    Req(
        "Download the chat transcript",
        "GET",
        R + "/{{chat_id}}/download",
        200,
        {"recording_id": "string", "messages": "array", "messages.0.text": "string"},
        tests=check('body.messages[1].sender === "agent"', "both messages"),
    ),
    Req(
        "The recording's access log",
        "GET",
        R + "/{{import_id}}/access-log",
        200,
        {"items": "array", "items.0.event": "string", "items.0.at": "string"},
        tests=check('body.items.some((e) => e.event === "played")', "the download logged"),
    ),
    Req(
        "Put the recording under legal hold",
        "PUT",
        R + "/{{import_id}}/hold",
        200,
        METADATA,
        json={"reason": "dispute #42"},
        tests=check("body.legal_hold === true", "held"),
    ),
    Req(
        "A held recording cannot be deleted",
        "DELETE",
        R + "/{{import_id}}",
        409,
        error="recording_on_hold",
        json={"reason": "customer asked for erasure"},
    ),
    Req(
        "Release the hold",
        "DELETE",
        R + "/{{import_id}}/hold",
        200,
        METADATA,
        tests=check("body.legal_hold === false", "released"),
    ),
    Req(
        "Delete the recording (a tombstone stays)",
        "DELETE",
        R + "/{{import_id}}",
        200,
        METADATA,
        json={"reason": "customer asked for erasure"},
        tests=check('body.status === "deleted"', "deleted"),
    ),
    Req(
        "Dead status callbacks (the receiver refuses them)",
        "GET",
        f"{R}/jobs",
        200,
        {"items": "array", "total": "number"} | {f"items.0.{k}": v for k, v in JOB.items()},
        query=[("state", "dead"), ("kind", "recording.callback")],
        pre=POLL + '\npoll("{{recording_url}}/recordings/jobs?state=dead&kind=recording.callback", '
        "(b) => b.total >= 1, 300);",
        save={"recording_job_id": "items.0.id"},
    ),
    Req(
        "One job",
        "GET",
        R + "/jobs/{{recording_job_id}}",
        200,
        JOB,
        tests=check('body.state === "dead"', "dead"),
    ),
    Req(
        "Discard the job",
        "POST",
        R + "/jobs/{{recording_job_id}}/discard",
        200,
        JOB,
        tests=check('body.state === "discarded"', "discarded"),
    ),
    Req(
        "Replay the job",
        "POST",
        R + "/jobs/{{recording_job_id}}/replay",
        200,
        JOB,
        tests=check('body.state === "queued" && body.attempt === 0', "queued again"),
    ),
]
