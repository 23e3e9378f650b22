"""The recording service end to end: finalizing speed, download and range playback, memory
for a 1 GB file, and many live WebSocket streams into one process.

    .venv/bin/python bench/recording.py [--quick] [--output bench/results/recording.json]

Every scenario runs ``aicc serve recording`` (embedded SQLite and local disk, a scratch data
folder) pinned to core 1, the client pinned to core 0; with ``--all-cores`` the server may use
every core (a long MP3 is then encoded in segments on several cores at once).

- ``finalize``: one hour of an 8 kHz stereo call (the synthetic two-party conversation of
  ``bench/audio_codecs.py``) is sent as HTTP chunks, then stopped; the real-time factor is
  3600 s over the server's own stop-to-completed time, for FLAC, MP3, AAC and WAV. It covers
  the whole path: spool rows read and decrypted, encoded, sealed, written. Baseline in the
  same run: the codec alone on five minutes of the same audio in a process on core 1.
- ``download``: the hour in WAV (115 MB) downloaded whole, then played as a player seeks (50
  random positions, 4 MiB ranges each); the latency of a small (64 KiB) range request, each
  one audited; baseline: reading the sealed object's file from disk.
- ``memory``: a 1 GB WAV imported as a streamed body, then downloaded; the server's peak
  resident memory above its resident memory before each (Linux ``VmHWM``, reset first).
- ``streams``: N WebSocket clients each send 20 ms frames of 8 kHz stereo audio in real time
  for D seconds and a mark every second; reception lag is mark sent → mark echoed, durable
  lag is frame sent → the acknowledgement covering it (the service stores and acknowledges
  every half second, so that figure includes up to 0.5 s of waiting by design); afterwards
  every recording must hold every byte sent.

Targets: finalize ≥ 240x real time for FLAC and MP3, ≥ 120x for AAC; download and range
playback ≥ 200 MB/s; memory growth < 64 MB; 200 streams with no lost frame and reception lag
p99 < 250 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx2
import jwt
import orjson
from audio_codecs import conversation
from harness import emit, environment, log, pin_client
from servers import ServerProcess
from websockets.asyncio.client import connect

SECRET = "bench-recording-shared-secret-32-bytes!"  # noqa: S105 (a scratch server)
ISSUER = "http://127.0.0.1:8003"
WHO = {"session_id": "bench", "agent_id": "agent001", "customer_id": "c-1"}
TARGETS = {
    "flac": 240,
    "mp3": 240,
    "aac": 120,
    "mb_per_s": 200,
    "memory_mb": 64,
    "streams": 200,
    "lag_p99_ms": 250,
}


def token() -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "aicc",
        "sub": "bench",
        "preferred_username": "agent001",
        "sid": "bench",
        "iat": now,
        "nbf": now,
        "exp": now + 86400,
        "jti": "b",
        "roles": ["ADMIN"],
    }
    encoded = jwt.encode(claims, SECRET, algorithm="HS256", headers={"typ": "at+jwt"})
    return {"Authorization": f"Bearer {encoded}"}


SERVER_CPU: int | None = 1
"""Core 1, or None with ``--all-cores`` (MP3 finalizing then encodes on every core)."""


def server(data: Path, **extra: str) -> ServerProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AICC_", "DATABASE_"))}
    env.update(
        AICC_DATA_DIR=str(data),
        JWT_SECRET=SECRET,
        AICC_AUTH_ISSUER=ISSUER,
        AICC_ACCESS_LOG="false",
        AICC_RECORDING_STOP_WAIT="0",
        **extra,
    )
    argv = [sys.executable, "-m", "aicc", "serve", "recording", "--port", "{port}"]
    process = ServerProcess(argv, cpu=SERVER_CPU, env=env, log_path=data / "server.log").start()
    process.wait_ready()
    return process


def vm_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def reset_peak(pid: int) -> None:
    Path(f"/proc/{pid}/clear_refs").write_text("5")


async def wait_completed(http: httpx2.AsyncClient, rid: str, limit: float = 900) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        metadata: dict[str, Any] = (await http.get(f"/recordings/{rid}", headers=token())).json()
        if metadata["status"] != "finalizing":
            return metadata
        await asyncio.sleep(0.05)
    raise SystemExit(f"recording {rid} not finalized within {limit}s")


async def finalize(http: httpx2.AsyncClient, pcm: bytes, fmt: str) -> dict[str, Any]:
    started = await http.post(
        "/recordings/voice/start", headers=token(), json={**WHO, "channels": 2, "format": fmt}
    )
    rid = started.json()["recording_id"]
    step = 1 << 20
    for low in range(0, len(pcm), step):
        sent = await http.post(
            f"/recordings/voice/{rid}/audio",
            params={"offset": low},
            content=pcm[low : low + step],
            headers=token(),
        )
        assert sent.status_code == 200, sent.text
    await http.post(f"/recordings/voice/{rid}/stop", headers=token())
    metadata = await wait_completed(http, rid)
    seconds = _ts(metadata["completed_at"]) - _ts(metadata["stopped_at"])
    audio = len(pcm) / 32000
    return {
        "recording_id": rid,
        "audio_seconds": audio,
        "finalize_seconds": round(seconds, 2),
        "realtime_factor": round(audio / seconds, 1),
        "stored_bytes": metadata["size_bytes"],
    }


def _ts(value: str) -> float:
    return datetime.fromisoformat(value).timestamp()


def codec_only(fmt: str, seconds: int) -> float:
    """The encoder alone on ``seconds`` of the same audio, in a process on core 1."""
    code = (
        "import sys,time; sys.path.insert(0,'bench'); from audio_codecs import conversation;"
        "from aicc.recording.audio import AudioEncoder;"
        f"pcm=conversation(8000,2,{seconds}); e=AudioEncoder('{fmt}',sample_rate=8000,channels=2,"
        "total_frames=len(pcm)//4); t=time.perf_counter();"
        "[e.encode(pcm[i:i+65536]) for i in range(0,len(pcm),65536)]; e.finish();"
        "print(time.perf_counter()-t)"
    )
    out = subprocess.run(
        ["taskset", "-c", "1", sys.executable, "-c", code],
        check=True,
        capture_output=True,
        text=True,
    )
    return seconds / float(out.stdout.strip())


async def download(http: httpx2.AsyncClient, rid: str, data: Path) -> dict[str, Any]:
    url = f"/recordings/{rid}/download"
    started = time.perf_counter()
    size = 0
    async with http.stream("GET", url, headers=token()) as response:
        async for piece in response.aiter_bytes():
            size += len(piece)
    whole = time.perf_counter() - started
    seeks, span, moved = 50, 4 << 20, 0
    started = time.perf_counter()
    for _ in range(seeks):
        low = random.randrange(0, max(1, size - span))
        headers = {**token(), "Range": f"bytes={low}-{low + span - 1}"}
        async with http.stream("GET", url, headers=headers) as part:
            assert part.status_code == 206
            async for piece in part.aiter_bytes():
                moved += len(piece)
    seeking = time.perf_counter() - started
    latencies = []
    for _ in range(200):
        low = random.randrange(0, size - 65536)
        t0 = time.perf_counter()
        part = await http.get(url, headers={**token(), "Range": f"bytes={low}-{low + 65535}"})
        latencies.append(time.perf_counter() - t0)
        assert part.status_code == 206 and len(part.content) == 65536
    stored = max(
        (p for p in (data / "objects").rglob("*") if p.is_file()), key=lambda p: p.stat().st_size
    )
    t0 = time.perf_counter()
    with stored.open("rb") as raw:
        while raw.read(1 << 20):
            pass
    disk = stored.stat().st_size / (time.perf_counter() - t0) / 1e6
    return {
        "bytes": size,
        "whole_mb_per_s": round(size / whole / 1e6, 1),
        "seeks": seeks,
        "range_mb_per_s": round(moved / seeking / 1e6, 1),
        "small_range_p50_ms": round(statistics.median(latencies) * 1000, 2),
        "disk_read_mb_per_s": round(disk, 1),
        "whole_ratio_to_disk": round(size / whole / 1e6 / disk, 3),
    }


async def wav_stream(total: int) -> AsyncIterator[bytes]:
    """A 16 kHz stereo WAV of ``total`` bytes, made as it is sent."""
    data = total - 44
    yield (
        b"RIFF"
        + struct.pack("<I", data + 36)
        + b"WAVEfmt "
        + struct.pack("<IHHIIHH", 16, 1, 2, 16000, 64000, 4, 16)
        + b"data"
        + struct.pack("<I", data)
    )
    block = os.urandom(1 << 20)
    sent = 0
    while sent < data:
        piece = block[: min(len(block), data - sent)]
        sent += len(piece)
        yield piece


async def memory(http: httpx2.AsyncClient, pid: int, size: int) -> dict[str, Any]:
    before = vm_kib(pid, "VmRSS")
    reset_peak(pid)
    params = {**WHO, "retention_days": 1}
    imported = await http.post(
        "/recordings/import", params=params, content=wav_stream(size), headers=token(), timeout=600
    )
    assert imported.status_code in (201, 202), imported.text
    rid = imported.json()["recording_id"]
    await wait_completed(http, rid)
    import_peak = vm_kib(pid, "VmHWM") - before
    before = vm_kib(pid, "VmRSS")
    reset_peak(pid)
    got = 0
    async with http.stream(
        "GET", f"/recordings/{rid}/download", headers=token(), timeout=600
    ) as response:
        async for piece in response.aiter_bytes():
            got += len(piece)
    assert got == size
    return {
        "bytes": size,
        "import_peak_growth_mb": round(import_peak / 1024, 1),
        "download_peak_growth_mb": round((vm_kib(pid, "VmHWM") - before) / 1024, 1),
    }


async def one_stream(
    url: str, seconds: float, frame: bytes, marks: list[float], acks: list[float], start_at: float
) -> int:
    sent_at: list[tuple[int, float]] = []
    sent = 0
    async with connect(url, max_queue=None) as ws:

        async def reader() -> None:
            async for message in ws:
                event = orjson.loads(message)
                now = time.monotonic()
                if event["event"] == "mark":
                    marks.append(now - event["mark"]["t"])
                elif event["event"] == "ack":
                    covered = [t for n, t in sent_at if n <= event["received_bytes"]]
                    if covered:
                        acks.append(now - max(covered))
                elif event["event"] == "stopped":
                    return

        task = asyncio.create_task(reader())
        await asyncio.sleep(max(0.0, start_at - time.monotonic()))
        ticks = int(seconds / 0.02)
        for i in range(ticks):
            await asyncio.sleep(max(0.0, start_at + i * 0.02 - time.monotonic()))
            await ws.send(frame)
            sent += len(frame)
            sent_at.append((sent, time.monotonic()))
            if i % 50 == 0:
                mark = {"event": "mark", "mark": {"t": time.monotonic()}}
                await ws.send(orjson.dumps(mark).decode())
        await ws.send(orjson.dumps({"event": "stop"}).decode())
        await asyncio.wait_for(task, 60)
    return sent


async def streams(http: httpx2.AsyncClient, count: int, seconds: float) -> dict[str, Any]:
    urls, rids = [], []
    for _ in range(count):
        started = await http.post(
            "/recordings/voice/start",
            headers=token(),
            json={**WHO, "channels": 2, "format": "flac"},
        )
        rids.append(started.json()["recording_id"])
        urls.append(started.json()["stream_url"])
    frame = os.urandom(640)
    marks: list[float] = []
    acks: list[float] = []
    start_at = time.monotonic() + 2
    sent = await asyncio.gather(
        *(one_stream(u, seconds, frame, marks, acks, start_at) for u in urls),
        return_exceptions=True,
    )
    lost = failed = 0
    for rid, n in zip(rids, sent, strict=True):
        if isinstance(n, BaseException):
            log(f"stream {rid} failed: {n!r}")
            failed += 1
            continue
        metadata = (await http.get(f"/recordings/{rid}", headers=token())).json()
        lost += n - metadata["received_bytes"]
    marks.sort()
    acks.sort()
    return {
        "streams": count,
        "seconds": seconds,
        "failed_streams": failed,
        "bytes_lost": lost,
        "reception_lag_p50_ms": round(marks[len(marks) // 2] * 1000, 1),
        "reception_lag_p99_ms": round(marks[int(len(marks) * 0.99)] * 1000, 1),
        "durable_ack_lag_p50_ms": round(acks[len(acks) // 2] * 1000, 1),
        "durable_ack_lag_p99_ms": round(acks[int(len(acks) * 0.99)] * 1000, 1),
    }


async def run(args: argparse.Namespace) -> dict[str, Any]:
    seconds = 300 if args.quick else 3600
    only = set(args.only.split(","))
    out: dict[str, Any] = {"environment": environment(audio_seconds=seconds)}
    if only & {"finalize", "download", "memory"}:
        await files(args, seconds, only, out)
    if "streams" in only:
        with tempfile.TemporaryDirectory(prefix="bench-streams-") as tmp:
            process = server(Path(tmp), AICC_RECORDING_IDLE_TIMEOUT="600")
            try:
                async with httpx2.AsyncClient(base_url=process.url, timeout=300) as http:
                    count = 20 if args.quick else args.streams
                    log(f"streams: {count} live WebSocket streams for {args.stream_seconds} s")
                    out["streams"] = await streams(http, count, args.stream_seconds)
                    out["streams"]["server_cpu_seconds"] = round(process.cpu_seconds(), 1)
            finally:
                process.stop()
    out["targets_met"] = targets_met(out)
    return out


async def files(
    args: argparse.Namespace, seconds: int, only: set[str], out: dict[str, Any]
) -> None:
    pcm = conversation(8000, 2, seconds)
    with tempfile.TemporaryDirectory(prefix="bench-recording-") as tmp:
        process = server(Path(tmp))
        try:
            async with httpx2.AsyncClient(base_url=process.url, timeout=300) as http:
                out["finalize"] = {}
                formats = ("flac", "mp3", "aac", "wav") if "finalize" in only else ("wav",)
                for fmt in formats:
                    log(f"finalize: {seconds} s of 8 kHz stereo to {fmt}")
                    result = await finalize(http, pcm, fmt)
                    if fmt != "wav":
                        codec = codec_only(fmt, 300)
                        result["codec_only_realtime_factor"] = round(codec, 1)
                        result["ratio_to_codec"] = round(result["realtime_factor"] / codec, 3)
                    out["finalize"][fmt] = result
                if "download" in only:
                    log("download and ranges")
                    wav = out["finalize"]["wav"]["recording_id"]
                    out["download"] = await download(http, wav, Path(tmp))
                if "memory" in only:
                    size = (128 if args.quick else 1024) << 20
                    log(f"memory: import and download {size >> 20} MiB")
                    out["memory"] = await memory(http, process.pid, size)
        finally:
            process.stop()


def targets_met(out: dict[str, Any]) -> dict[str, bool]:
    met: dict[str, bool] = {}
    for fmt in ("flac", "mp3", "aac"):
        if fmt in out.get("finalize", {}):
            met[fmt] = out["finalize"][fmt]["realtime_factor"] >= TARGETS[fmt]
    if "download" in out:
        d = out["download"]
        met["download"] = min(d["whole_mb_per_s"], d["range_mb_per_s"]) >= TARGETS["mb_per_s"]
    if "memory" in out:
        m = out["memory"]
        peak = max(m["import_peak_growth_mb"], m["download_peak_growth_mb"])
        met["memory"] = peak < TARGETS["memory_mb"]
    if "streams" in out:
        s = out["streams"]
        met["streams"] = (
            s["streams"] >= TARGETS["streams"]
            and s["bytes_lost"] == 0
            and s["failed_streams"] == 0
            and s["reception_lag_p99_ms"] < TARGETS["lag_p99_ms"]
        )
    return met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--stream-seconds", type=float, default=30.0)
    parser.add_argument(
        "--only",
        default="finalize,download,memory,streams",
        help="comma-separated scenarios to run",
    )
    parser.add_argument("--output", type=Path)
    parser.add_argument("--all-cores", action="store_true", help="do not pin the server")
    args = parser.parse_args()
    global SERVER_CPU
    if args.all_cores:
        SERVER_CPU = None  # and the client stays unpinned: the server inherits its cores
    else:
        pin_client()
    result = asyncio.run(run(args))
    emit(result, args.output)


if __name__ == "__main__":
    main()
