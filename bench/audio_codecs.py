"""Finalizing a call recording: real-time factors and memory per format for one hour of audio.

    .venv/bin/python bench/audio_codecs.py [--seconds 3600] [--rate 8000] [--channels 2]
        [--formats wav,flac,mp3,aac] [--variants] [--core 1] [--output FILE]

Each format runs in a fresh process pinned to one core. It synthesises five minutes of a
two-party call (customer left, agent right: alternating turns of voiced syllables through
vowel formants, fricative bursts, back-channels, pauses, background noise at -60 dBFS), then
feeds ``--seconds`` of it (those five minutes repeated) to ``AudioEncoder`` in 64 KiB chunks
with ``total_frames`` set, as the finalize job reads the spool, and throws the output away
after counting it (the encrypting uploader's place). Reported per format: wall and CPU
seconds, ``realtime_factor`` (audio seconds per wall second), output size and bitrate, the
peak resident memory during the encode above the resident memory before it (peak reset
through ``/proc/self/clear_refs``), and the resident growth from a quarter of the way to the
end (flat memory: close to zero).

``--variants`` also runs the same five minutes through other encoder settings at codec level
(LAME quality 5, joint stereo, LAME's defaults; FFmpeg's fast AAC coder; FLAC's default
block size), the evidence for the settings chosen in ``aicc.recording.audio.encoder``.

Targets (the issue's benchmark, 8 kHz stereo, one core): FLAC and MP3 at least 240x real
time, AAC at least 120x.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from harness import emit

from aicc.recording.audio import AudioEncoder, mulaw_to_pcm16

TARGETS = {"flac": 240, "mp3": 240, "aac": 120}
CHUNK_BYTES = 65536
UNIQUE_SECONDS = 300
VOWEL_FORMANTS = (
    (730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480),
    (660, 1720, 2410), (570, 840, 2410), (440, 1020, 2240), (490, 1350, 1690),
)  # fmt: skip
VOICES = ((115.0, 0.35), (205.0, 0.3))
"""Pitch (Hz) and peak level of the customer (left) and the agent (right)."""


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def syllable(rate: int, rng: np.random.Generator, pitch: float, level: float) -> np.ndarray:
    n = int(rng.uniform(0.12, 0.32) * rate)
    t = np.arange(n) / rate
    contour = pitch * (1 + 0.08 * np.sin(2 * np.pi * rng.uniform(1, 4) * t + rng.uniform(0, 6)))
    contour *= 1 + 0.01 * rng.standard_normal(n)
    glottal = (np.cumsum(contour / rate) % 1.0) - 0.5
    freqs = np.fft.rfftfreq(n, 1 / rate)
    formants = VOWEL_FORMANTS[rng.integers(len(VOWEL_FORMANTS))]
    shape = sum(
        gain / (1 + ((freqs - f * rng.uniform(0.9, 1.1)) / width) ** 2)
        for f, width, gain in zip(formants, (80, 110, 160), (1.0, 0.6, 0.3), strict=True)
    )
    voiced = np.fft.irfft(np.fft.rfft(glottal * np.hanning(n)) * shape, n)
    voiced *= level / (np.abs(voiced).max() + 1e-9)
    if rng.random() >= 0.4:
        return voiced
    m = int(rng.uniform(0.04, 0.09) * rate)
    hiss = np.fft.irfft(
        np.fft.rfft(rng.standard_normal(m)) * (np.fft.rfftfreq(m, 1 / rate) > rate * 0.22), m
    )
    hiss *= np.hanning(m) * 0.4 * level / (np.abs(hiss).max() + 1e-9)
    return np.concatenate([hiss, voiced])


def talk(track: np.ndarray, start: int, seconds: float, rate: int, rng: np.random.Generator,
         pitch: float, level: float) -> None:  # fmt: skip
    end = min(len(track), start + int(seconds * rate))
    position = start
    while position < end:
        for _ in range(rng.integers(1, 4)):
            if position >= end:
                return
            sound = syllable(rate, rng, pitch, level * rng.uniform(0.6, 1.0))
            stop = min(end, position + len(sound))
            track[position:stop] += sound[: stop - position]
            position = stop + int(rng.uniform(0, 0.04) * rate)
        position += int(rng.uniform(0.08, 0.3) * rate)


def conversation(rate: int, channels: int, seconds: int, seed: int = 1) -> bytes:
    """Interleaved s16le: a synthetic two-party call (mono: both parties mixed)."""
    rng = np.random.default_rng(seed)
    tracks = np.zeros((2, rate * seconds))
    position, speaker = 0, 0
    while position < tracks.shape[1]:
        turn = rng.uniform(1.5, 8.0)
        talk(tracks[speaker], position, turn, rate, rng, *VOICES[speaker])
        if rng.random() < 0.3:
            listener = 1 - speaker
            talk(
                tracks[listener], position + int(turn * rate / 2), 0.4, rate, rng, *VOICES[listener]
            )
        position += int((turn + rng.uniform(0.2, 0.8)) * rate)
        speaker = 1 - speaker
    tracks += rng.standard_normal(tracks.shape) * 10 ** (-60 / 20)
    mixed = tracks.T if channels == 2 else tracks.sum(axis=0, keepdims=True).T
    return (np.clip(mixed, -1, 1) * 32767).astype("<i2").tobytes()


def status_kib(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def reset_peak_rss() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
        return True
    except OSError:
        return False


def encode_hour(fmt: str, rate: int, channels: int, seconds: int) -> dict[str, Any]:
    """One format, in this (child) process."""
    block = conversation(rate, channels, min(UNIQUE_SECONDS, seconds))
    frame_bytes = 2 * channels
    total_frames = rate * seconds
    encoder = AudioEncoder(fmt, sample_rate=rate, channels=channels, total_frames=total_frames)
    rss_before = status_kib("VmRSS")
    peak_was_reset = reset_peak_rss()
    remaining, produced, quarter_rss = total_frames * frame_bytes, 0, None
    wall, cpu = time.perf_counter(), time.process_time()
    while remaining:
        for start in range(0, min(len(block), remaining), CHUNK_BYTES):
            chunk = block[start : min(start + CHUNK_BYTES, len(block), start + remaining)]
            produced += len(encoder.encode(chunk))
            remaining -= len(chunk)
            if quarter_rss is None and remaining <= 0.75 * total_frames * frame_bytes:
                quarter_rss = status_kib("VmRSS")
            if not remaining:
                break
    produced += len(encoder.finish())
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    rss_after = status_kib("VmRSS")
    return {
        "format": fmt,
        "audio_seconds": seconds,
        "wall_seconds": round(wall, 3),
        "cpu_seconds": round(cpu, 3),
        "realtime_factor": round(seconds / wall, 1),
        "realtime_factor_cpu": round(seconds / cpu, 1),
        "output_bytes": produced,
        "output_kbps": round(produced * 8 / seconds / 1000, 1),
        "bitrate": encoder.bitrate,
        "rss_before_mib": round(rss_before / 1024, 1),
        "peak_rss_above_start_mib": round((status_kib("VmHWM") - rss_before) / 1024, 1)
        if peak_was_reset
        else None,
        "rss_growth_last_three_quarters_mib": round((rss_after - (quarter_rss or 0)) / 1024, 1),
    }


def codec_variant(codec: str, fmt: str, options: dict[str, str], pcm: bytes, rate: int,
                  channels: int, bitrate: int | None) -> dict[str, Any]:  # fmt: skip
    context = av.CodecContext.create(codec, "w")
    assert isinstance(context, av.AudioCodecContext)
    layout = "stereo" if channels == 2 else "mono"
    context.sample_rate, context.layout, context.format = rate, layout, fmt
    context.time_base = Fraction(1, rate)
    if bitrate:
        context.bit_rate = bitrate
    context.options = options
    context.open()
    size = 0
    wall = time.perf_counter()
    for start in range(0, len(pcm), CHUNK_BYTES):
        piece = pcm[start : start + CHUNK_BYTES]
        frame = av.AudioFrame(format="s16", layout=layout, samples=len(piece) // (2 * channels))
        frame.planes[0].update(piece)
        frame.sample_rate, frame.pts = rate, start // (2 * channels)
        size += sum(p.size for p in context.encode(frame))
    size += sum(p.size for p in context.encode(None))
    wall = time.perf_counter() - wall
    seconds = len(pcm) / (2 * channels * rate)
    return {
        "realtime_factor": round(seconds / wall, 1),
        "kbps": round(size * 8 / seconds / 1000, 1),
    }


def variants(rate: int, channels: int) -> dict[str, Any]:
    pcm = conversation(rate, channels, UNIQUE_SECONDS)
    bitrate = 32000 * channels
    lr_stereo = {"joint_stereo": "0"}
    runs = {
        "mp3_ours_q7_lr_stereo": ("libmp3lame", "s16p", {"compression_level": "7", **lr_stereo}),
        "mp3_q5_lr_stereo": ("libmp3lame", "s16p", {"compression_level": "5", **lr_stereo}),
        "mp3_q7_joint": ("libmp3lame", "s16p", {"compression_level": "7"}),
        "mp3_lame_defaults_q3_joint": ("libmp3lame", "s16p", {}),
        "aac_ours_twoloop": ("aac", "fltp", {}),
        "aac_fast_coder": ("aac", "fltp", {"aac_coder": "fast"}),
        "flac_ours_4096": ("flac", "s16", {"frame_size": "4096"}),
        "flac_ffmpeg_default_block": ("flac", "s16", {}),
    }  # fmt: skip
    out: dict[str, Any] = {}
    for name, (codec, fmt, options) in runs.items():
        log(f"variant {name}")
        rate_for = None if codec == "flac" else bitrate
        out[name] = codec_variant(codec, fmt, options, pcm, rate, channels, rate_for)
    return out


def mulaw_speed(seconds: int) -> dict[str, Any]:
    data = os.urandom(8000 * 2 * 60)
    wall = time.perf_counter()
    mulaw_to_pcm16(data)
    wall = time.perf_counter() - wall
    return {
        "mb_per_s": round(len(data) / wall / 1e6, 1),
        "seconds_for_run_8k_stereo": round(wall * seconds / 60, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=3600)
    parser.add_argument("--rate", type=int, default=8000, choices=(8000, 16000))
    parser.add_argument("--channels", type=int, default=2, choices=(1, 2))
    parser.add_argument("--formats", default="wav,flac,mp3,aac")
    parser.add_argument("--core", type=int, default=max(os.sched_getaffinity(0)))
    parser.add_argument("--variants", action="store_true")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    if args.core in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {args.core})
    if args.child:
        print(json.dumps(encode_hour(args.child, args.rate, args.channels, args.seconds)))
        return
    result: dict[str, Any] = {
        "environment": {
            "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "python": platform.python_version(),
            "pyav": av.__version__,
            "ffmpeg": av.ffmpeg_version_info,
            "cpus": os.cpu_count(),
            "pinned_to_core": args.core,
            "loadavg_at_start": [round(x, 2) for x in os.getloadavg()],
            "sample_rate": args.rate,
            "channels": args.channels,
            "chunk_bytes": CHUNK_BYTES,
        },
        "formats": {},
    }
    for fmt in args.formats.split(","):
        log(f"{fmt}: {args.seconds} s of {args.rate} Hz, {args.channels} channel(s)")
        child = [sys.executable, __file__, "--child", fmt, "--core", str(args.core),
                 "--seconds", str(args.seconds), "--rate", str(args.rate),
                 "--channels", str(args.channels)]  # fmt: skip
        done = subprocess.run(child, check=True, capture_output=True, text=True)
        result["formats"][fmt] = json.loads(done.stdout)
    result["mulaw_to_pcm16"] = mulaw_speed(args.seconds)
    if args.variants:
        result["variants_5_min"] = variants(args.rate, args.channels)
    if (args.rate, args.channels) == (8000, 2):
        result["targets_met"] = {
            fmt: result["formats"][fmt]["realtime_factor"] >= target
            for fmt, target in TARGETS.items()
            if fmt in result["formats"]
        }
    emit(result, args.output)


if __name__ == "__main__":
    main()
