"""A long MP3 encoded in segments on several cores is the same stream a single encoder
writes: the same length to the sample, the same frames and Info tag layout, and no seam at
the segment boundaries."""

from __future__ import annotations

import numpy as np
import pytest

from aicc.recording.audio import AudioEncoder
from aicc.recording.audio.mp3_parallel import SAMPLES_PER_FRAME, SEGMENT_FRAMES
from tests.recording.test_audio_signals import as_frames, decode_file, snr_db, split, tone_pcm

SEGMENT = SEGMENT_FRAMES * SAMPLES_PER_FRAME


def encode_mp3(pcm: bytes, rate: int, channels: int, *, parallel: bool) -> bytes:
    frames = len(pcm) // (2 * channels)
    encoder = AudioEncoder("mp3", sample_rate=rate, channels=channels, total_frames=frames)
    assert encoder.segmented is parallel
    out = [encoder.encode(chunk) for chunk in split(pcm, (300_001, 4096, 77))]
    return b"".join([*out, encoder.finish()])


@pytest.mark.parametrize(("rate", "channels"), [(8000, 2), (16000, 1)])
def test_a_long_mp3_in_segments_matches_one_encoder(
    rate: int, channels: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0, 1})
    frames = 3 * SEGMENT + 12_345
    pcm = tone_pcm(rate, channels, frames)
    parallel = encode_mp3(pcm, rate, channels, parallel=True)
    monkeypatch.setattr("os.sched_getaffinity", lambda _pid: {0})
    single = encode_mp3(pcm, rate, channels, parallel=False)
    assert len(parallel) == len(single), "same frame count, same Info tag"
    decoded, decoded_rate, _ = decode_file(parallel)
    reference = as_frames(pcm, channels)
    assert decoded_rate == rate and len(decoded) == frames
    overall = snr_db(reference[:, 0], decoded[:, 0])
    assert overall > 12
    for boundary in range(SEGMENT, frames - SEGMENT // 2, SEGMENT):
        window = slice(boundary - 2 * SAMPLES_PER_FRAME, boundary + 2 * SAMPLES_PER_FRAME)
        for channel in range(channels):
            seam = snr_db(reference[window, channel], decoded[window, channel])
            assert seam > overall - 3, f"a seam at sample {boundary}"
    assert np.array_equal(decode_file(single)[0].shape, decoded.shape)
