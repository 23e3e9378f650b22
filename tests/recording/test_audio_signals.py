"""Test audio for the audio pipeline's tests, and checks of the helpers themselves.

Decoding here uses PyAV directly (never ``aicc.recording.audio``), so the tests compare the
pipeline's output with an independent reading of it.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from typing import Any

import av
import numpy as np
import numpy.typing as npt

Samples = npt.NDArray[np.int16]
LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1"}
TONES = (440.0, 1000.0)
"""Customer (left) and agent (right) in stereo test signals."""


def tone_pcm(
    rate: int, channels: int, frames: int, freqs: Sequence[float] = TONES, level: float = 0.3
) -> bytes:
    """Interleaved s16le: a sine per channel, ``freqs[i]`` on channel ``i``."""
    t = np.arange(frames) / rate
    columns = [np.sin(2 * np.pi * freqs[c] * t) for c in range(channels)]
    return (np.stack(columns, axis=1) * level * 32767).astype("<i2").tobytes()


def noise_pcm(channels: int, frames: int, seed: int = 7) -> bytes:
    """Interleaved s16le white noise over the full range (hard for FLAC, exact for WAV)."""
    rng = np.random.default_rng(seed)
    return rng.integers(-32768, 32768, frames * channels, dtype=np.int16).astype("<i2").tobytes()


def split(data: bytes, sizes: Sequence[int]) -> Iterator[bytes]:
    """``data`` in chunks cycling through ``sizes`` (odd sizes split sample frames)."""
    position, turn = 0, 0
    while position < len(data):
        size = sizes[turn % len(sizes)]
        yield data[position : position + size]
        position += size
        turn += 1


def as_frames(pcm: bytes, channels: int) -> Samples:
    return np.frombuffer(pcm, dtype="<i2").reshape(-1, channels)


def decode_file(data: bytes) -> tuple[Samples, int, Any]:
    """All of a file's audio as (frames, channels) int16, its rate, and the PyAV stream."""
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        channels = stream.codec_context.channels
        resampler = av.AudioResampler(format="s16", layout=LAYOUTS.get(channels, channels))
        parts = [
            out.to_ndarray().reshape(-1, channels)
            for frame in container.decode(stream)
            for out in resampler.resample(frame)
        ]
        samples = np.concatenate(parts) if parts else np.zeros((0, channels), np.int16)
        return samples.astype(np.int16), stream.codec_context.sample_rate, stream


def encode_with_pyav(
    codec: str, container_format: str, pcm: bytes, rate: int, channels: int
) -> bytes:
    """A file written by PyAV itself into a seekable buffer (e.g. Amazon Connect's WAV µ-law)."""
    buffer = io.BytesIO()
    with av.open(buffer, mode="w", format=container_format) as container:
        stream = container.add_stream(codec, rate=rate, layout=LAYOUTS[channels])
        assert isinstance(stream, av.AudioStream)
        frames = len(pcm) // (2 * channels)
        frame = av.AudioFrame(format="s16", layout=LAYOUTS[channels], samples=frames)
        frame.planes[0].update(pcm)
        frame.sample_rate = rate
        frame.pts = 0
        container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return buffer.getvalue()


def pyav_mulaw_encode(pcm: bytes) -> bytes:
    context = av.CodecContext.create("pcm_mulaw", "w")
    assert isinstance(context, av.AudioCodecContext)
    context.sample_rate, context.layout, context.format = 8000, "mono", "s16"
    context.open()
    frame = av.AudioFrame(format="s16", layout="mono", samples=len(pcm) // 2)
    frame.planes[0].update(pcm)
    frame.sample_rate = 8000
    return b"".join(bytes(p) for p in context.encode(frame) + context.encode(None))


def pyav_mulaw_decode(mulaw: bytes) -> bytes:
    context = av.CodecContext.create("pcm_mulaw", "r")
    assert isinstance(context, av.AudioCodecContext)
    context.sample_rate, context.layout = 8000, "mono"
    frames = context.decode(av.Packet(mulaw))
    return b"".join(bytes(f.planes[0])[: 2 * f.samples] for f in frames)


def spectrum_peak(channel: npt.NDArray[Any], rate: int) -> float:
    """The strongest frequency in one channel, Hz."""
    window = np.hanning(len(channel))
    magnitudes = np.abs(np.fft.rfft(channel.astype(np.float64) * window))
    return float(np.fft.rfftfreq(len(channel), 1 / rate)[int(np.argmax(magnitudes))])


def band_level(channel: npt.NDArray[Any], rate: int, freq: float, width: float = 30.0) -> float:
    """Energy (dB, arbitrary reference) within ``width`` Hz of ``freq``."""
    window = np.hanning(len(channel))
    magnitudes = np.abs(np.fft.rfft(channel.astype(np.float64) * window)) ** 2
    freqs = np.fft.rfftfreq(len(channel), 1 / rate)
    band = magnitudes[np.abs(freqs - freq) <= width].sum()
    return float(10 * np.log10(band + 1e-12))


def snr_db(reference: npt.NDArray[Any], decoded: npt.NDArray[Any]) -> float:
    """Waveform signal-to-noise ratio of ``decoded`` against ``reference`` (no realignment)."""
    ref = reference.astype(np.float64)
    noise = decoded.astype(np.float64) - ref
    return float(10 * np.log10((ref**2).sum() / max((noise**2).sum(), 1e-9)))


def test_tone_helpers_find_each_channel() -> None:
    samples = as_frames(tone_pcm(8000, 2, 8000), 2)
    assert abs(spectrum_peak(samples[:, 0], 8000) - 440) < 2
    assert abs(spectrum_peak(samples[:, 1], 8000) - 1000) < 2
    assert band_level(samples[:, 0], 8000, 440) - band_level(samples[:, 0], 8000, 1000) > 60


def test_split_keeps_every_byte() -> None:
    data = bytes(range(256)) * 3
    assert b"".join(split(data, [1, 3, 7])) == data


def test_pyav_mulaw_helpers_round_trip() -> None:
    mulaw = bytes(range(256))
    assert pyav_mulaw_encode(pyav_mulaw_decode(mulaw)) == mulaw.replace(b"\x7f", b"\xff")
