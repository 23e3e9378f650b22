"""Formats, capture parameters, bitrates, and G.711 µ-law decoding."""

from __future__ import annotations

import os

import pytest

from aicc.recording.audio import (
    CHANNEL_COUNTS,
    DEFAULT_BITRATE_PER_CHANNEL,
    FORMAT_SPECS,
    INPUT_ENCODINGS,
    SAMPLE_RATES,
    AudioFormat,
    InputEncoding,
    allowed_bitrates,
    check_capture,
    check_encodable,
    default_bitrate,
    mulaw_to_pcm16,
    parse_format,
    parse_input_encoding,
    resolve_bitrate,
)
from tests.recording.test_audio_signals import pyav_mulaw_decode


def test_the_four_formats() -> None:
    table = {f.value: (s.codec, s.extension, s.mime_type) for f, s in FORMAT_SPECS.items()}
    assert table == {
        "wav": ("pcm_s16le", "wav", "audio/wav"),
        "flac": ("flac", "flac", "audio/flac"),
        "mp3": ("mp3", "mp3", "audio/mpeg"),
        "aac": ("aac", "m4a", "audio/mp4"),
    }
    assert parse_format("mp3") is AudioFormat.MP3
    with pytest.raises(ValueError, match="wav, flac, mp3, aac"):
        parse_format("ogg")


def test_capture_parameters() -> None:
    assert SAMPLE_RATES == (8000, 16000)
    assert CHANNEL_COUNTS == (1, 2)
    assert INPUT_ENCODINGS == (InputEncoding.PCM_S16LE, InputEncoding.MULAW)
    assert parse_input_encoding("mulaw").sample_bytes == 1
    check_capture(16000, 2)
    with pytest.raises(ValueError, match="sample rate"):
        check_capture(44100, 1)
    with pytest.raises(ValueError, match="channels"):
        check_capture(8000, 3)
    with pytest.raises(ValueError, match="input encoding"):
        parse_input_encoding("alaw")


def test_encodable_parameters() -> None:
    check_encodable(AudioFormat.MP3, 44100, 2)
    check_encodable(AudioFormat.FLAC, 96000, 6)
    with pytest.raises(ValueError, match="Hz"):
        check_encodable(AudioFormat.MP3, 96000, 2)
    with pytest.raises(ValueError, match="channels"):
        check_encodable(AudioFormat.MP3, 8000, 6)


@pytest.mark.parametrize("fmt", [AudioFormat.MP3, AudioFormat.AAC])
@pytest.mark.parametrize("rate", SAMPLE_RATES)
@pytest.mark.parametrize("channels", CHANNEL_COUNTS)
def test_default_bitrate_is_32_kbps_per_channel(fmt: AudioFormat, rate: int, channels: int) -> None:
    bitrate = default_bitrate(fmt, rate, channels)
    assert bitrate == DEFAULT_BITRATE_PER_CHANNEL * channels
    assert bitrate in allowed_bitrates(fmt, rate, channels)
    assert resolve_bitrate(fmt, rate, channels, None) == bitrate


def test_allowed_bitrates_are_what_the_encoders_honour() -> None:
    assert allowed_bitrates(AudioFormat.MP3, 8000, 2) == (16000, 24000, 32000, 40000, 48000,
                                                          56000, 64000)  # fmt: skip
    assert max(allowed_bitrates(AudioFormat.MP3, 16000, 1)) == 160000
    assert max(allowed_bitrates(AudioFormat.AAC, 8000, 1)) == 48000
    assert max(allowed_bitrates(AudioFormat.AAC, 16000, 2)) == 192000
    assert allowed_bitrates(AudioFormat.FLAC, 8000, 2) == ()
    assert default_bitrate(AudioFormat.WAV, 8000, 1) is None


def test_bitrate_validation() -> None:
    assert resolve_bitrate(AudioFormat.MP3, 16000, 2, 128000) == 128000
    with pytest.raises(ValueError, match="64000 bits/s, not 128000"):
        resolve_bitrate(AudioFormat.MP3, 8000, 2, 128000)
    with pytest.raises(ValueError, match="lossless"):
        resolve_bitrate(AudioFormat.FLAC, 8000, 2, 64000)
    assert resolve_bitrate(AudioFormat.WAV, 8000, 2, None) is None


def test_mulaw_matches_pyav_for_every_code() -> None:
    codes = bytes(range(256))
    assert mulaw_to_pcm16(codes) == pyav_mulaw_decode(codes)
    data = os.urandom(100_001)
    assert mulaw_to_pcm16(memoryview(data)) == pyav_mulaw_decode(data)
    assert mulaw_to_pcm16(b"") == b""


def test_mulaw_extremes() -> None:
    decoded = mulaw_to_pcm16(bytes([0x00, 0x80, 0xFF, 0x7F]))
    assert [int.from_bytes(decoded[i : i + 2], "little", signed=True) for i in (0, 2, 4, 6)] == [
        -32124,
        32124,
        0,
        0,
    ]
