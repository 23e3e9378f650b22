"""Encoding a long call keeps memory flat: output leaves as it is made, nothing accumulates."""

from __future__ import annotations

import os
import tracemalloc

import pytest

from aicc.recording.audio import AudioEncoder
from aicc.recording.audio.mp3_parallel import SAMPLES_PER_FRAME, SEGMENT_FRAMES
from tests.recording.test_audio_signals import noise_pcm

BLOCK_SECONDS = 10
RATE = 8000


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs Linux /proc")
@pytest.mark.parametrize(("fmt", "minutes"), [("wav", 60), ("flac", 30), ("mp3", 10), ("aac", 10)])
def test_long_call_in_chunks_keeps_memory_bounded(fmt: str, minutes: int) -> None:
    frames = BLOCK_SECONDS * RATE
    block = noise_pcm(2, frames)  # pure tones would only make AAC slower (see the encoder)
    blocks = minutes * 60 // BLOCK_SECONDS
    encoder = AudioEncoder(fmt, sample_rate=RATE, channels=2, total_frames=blocks * frames)
    emitted_by_block = []
    total = 0
    tracemalloc.start()
    try:
        for _ in range(blocks):
            total += len(encoder.encode(block))
            emitted_by_block.append(total)
            if len(emitted_by_block) == blocks // 4:
                resident_early = resident_bytes()
        total += len(encoder.finish())
        python_peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    resident_growth = resident_bytes() - resident_early
    held_pcm = held_output = 0
    if encoder.segmented:  # a few segments in flight on the encoding threads, no more
        segments = len(os.sched_getaffinity(0)) + 2
        held_pcm = segments * SEGMENT_FRAMES * SAMPLES_PER_FRAME * 4
        held_output = segments * (total // (blocks * frames // SAMPLES_PER_FRAME)) * SEGMENT_FRAMES
    streamed = emitted_by_block[blocks // 2 - 1] + held_output
    assert streamed >= 0.45 * total  # streamed, not held back
    assert python_peak < 2 * len(block) + held_pcm + (1 << 20)
    assert resident_growth < 16 << 20, f"{fmt}: grew {resident_growth >> 20} MiB"
