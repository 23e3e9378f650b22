"""Encoding: what comes out decodes (with PyAV, independently) to what went in."""

from __future__ import annotations

import io
import struct

import av
import numpy as np
import pytest

from aicc.recording.audio import AudioEncoder, AudioFormat, encode_pcm, mulaw_to_pcm16
from aicc.recording.audio.headers import lame_frame_count
from tests.recording.test_audio_signals import (
    TONES,
    as_frames,
    band_level,
    decode_file,
    noise_pcm,
    pyav_mulaw_decode,
    snr_db,
    spectrum_peak,
    split,
    tone_pcm,
)

ODD_CHUNKS = (1, 3, 4097, 333, 65536 + 5, 2)
"""Chunk sizes that split samples and sample frames in every way."""


def encode(
    fmt: str, pcm: bytes, rate: int, channels: int, sizes: tuple[int, ...] = (4000,)
) -> bytes:
    frames = len(pcm) // (2 * channels)
    encoder = AudioEncoder(fmt, sample_rate=rate, channels=channels, total_frames=frames)
    out = [encoder.encode(chunk) for chunk in split(pcm, sizes)]
    return b"".join([*out, encoder.finish()])


@pytest.mark.parametrize("fmt", ["wav", "flac"])
@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("channels", [1, 2])
@pytest.mark.parametrize("sizes", [ODD_CHUNKS, (1 << 20,)])
def test_lossless_round_trip_is_bit_exact(
    fmt: str, rate: int, channels: int, sizes: tuple[int, ...]
) -> None:
    frames = 3 * rate + 1234
    pcm = noise_pcm(channels, frames // 2) + tone_pcm(rate, channels, frames - frames // 2)
    data = encode(fmt, pcm, rate, channels, sizes)
    samples, decoded_rate, stream = decode_file(data)
    assert decoded_rate == rate and samples.shape == (frames, channels)
    assert samples.tobytes() == pcm
    assert stream.duration * stream.time_base == pytest.approx(frames / rate)


def test_wav_header_states_the_length() -> None:
    pcm = tone_pcm(8000, 2, 1001)
    data = encode("wav", pcm, 8000, 2, (7,))
    riff, fmt_size, tag, channels, rate, byte_rate, align, bits = struct.unpack_from(
        "<4xI8xIHHIIHH", data
    )
    assert (riff, fmt_size, tag, channels, rate, byte_rate, align, bits) == (
        36 + len(pcm), 16, 1, 2, 8000, 32000, 4, 16,
    )  # fmt: skip
    assert data[36:44] == b"data" + struct.pack("<I", len(pcm)) and data[44:] == pcm


def test_flac_streaminfo_states_the_length() -> None:
    data = encode("flac", tone_pcm(16000, 1, 50_000), 16000, 1)
    assert data[:4] == b"fLaC"
    assert int.from_bytes(data[18:26], "big") & ((1 << 36) - 1) == 50_000
    assert int.from_bytes(data[8:10], "big") == 4096


@pytest.mark.parametrize("fmt", ["wav", "flac", "mp3", "aac"])
@pytest.mark.parametrize("channels", [1, 2])
def test_no_audio_gives_a_valid_empty_file(fmt: str, channels: int) -> None:
    data = encode(fmt, b"", 8000, channels)
    assert data
    samples, rate, stream = decode_file(data)
    assert samples.shape == (0, channels) and rate == 8000
    assert stream.codec_context.channels == channels
    assert not stream.duration


@pytest.mark.parametrize("fmt", ["mp3", "aac"])
@pytest.mark.parametrize("rate", [8000, 16000])
@pytest.mark.parametrize("channels", [1, 2])
def test_lossy_keeps_tones_timing_and_channels(fmt: str, rate: int, channels: int) -> None:
    frames = 5 * rate + 77
    pcm = tone_pcm(rate, channels, frames)
    data = encode(fmt, pcm, rate, channels, ODD_CHUNKS)
    samples, decoded_rate, _ = decode_file(data)
    assert decoded_rate == rate
    if fmt == "mp3":
        assert len(samples) == frames  # the Info tag makes decoders trim delay and padding
    else:
        assert frames <= len(samples) < frames + 1024  # priming trimmed, final block padded
    reference = as_frames(pcm, channels)
    middle = slice(rate, 4 * rate)
    for channel in range(channels):
        decoded = samples[middle, channel]
        assert abs(spectrum_peak(decoded, rate) - TONES[channel]) < 3
        assert snr_db(reference[middle, channel], decoded) > 12  # aligned to the sample
        if channels == 2:
            other = TONES[1 - channel]
            own = band_level(decoded, rate, TONES[channel])
            assert own - band_level(decoded, rate, other) > 40  # no crosstalk


@pytest.mark.parametrize(("rate", "channels", "bitrate"), [(8000, 2, 64000), (16000, 1, 24000)])
def test_mp3_is_constant_bitrate_with_an_exact_info_tag(
    rate: int, channels: int, bitrate: int
) -> None:
    frames = 10 * rate + 5
    pcm = tone_pcm(rate, channels, frames)
    encoder = AudioEncoder("mp3", sample_rate=rate, channels=channels, bitrate=bitrate,
                           total_frames=frames)  # fmt: skip
    data = encoder.encode(pcm) + encoder.finish()
    frame_bytes = 72 * bitrate // rate
    lame_frames = lame_frame_count(frames, 576)
    info_bytes = len(data) - lame_frames * frame_bytes
    assert data[info_bytes - 4 : info_bytes] == bytes(4)  # the Info frame ends in zeros
    headers = {data[i : i + 3] for i in range(info_bytes, len(data), frame_bytes)}
    assert len(headers) == 1 and headers.pop()[:2] == (b"\xff\xe3" if rate == 8000 else b"\xff\xf3")
    with av.open(io.BytesIO(data), mode="r") as container:
        stream = container.streams.audio[0]
        assert stream.duration is not None and stream.time_base is not None
        assert stream.duration * stream.time_base == pytest.approx(frames / rate)
        assert stream.metadata.get("encoder") == "LAME3.100"  # the tag's CRC is right
        assert stream.codec_context.bit_rate == bitrate


@pytest.mark.parametrize(("rate", "channels"), [(8000, 1), (8000, 2), (16000, 2)])
def test_lame_frame_count_prediction(rate: int, channels: int) -> None:
    rng = np.random.default_rng(rate + channels)
    for frames in [47, 575, 576, 577, 1151, 1152, 1153, 5000, *rng.integers(48, 40000, 8)]:
        pcm = noise_pcm(channels, int(frames))
        data = encode("mp3", pcm, rate, channels, (int(rng.integers(2, 9000)),))
        assert len(decode_file(data)[0]) == frames


def test_mulaw_input_is_decoded_first() -> None:
    mulaw = bytes(range(256)) * 101
    pcm = pyav_mulaw_decode(mulaw)
    encoder = AudioEncoder("wav", sample_rate=8000, channels=2, input_encoding="mulaw",
                           total_frames=len(mulaw) // 2)  # fmt: skip
    data = b"".join([*(encoder.encode(c) for c in split(mulaw, (3, 1, 1000))), encoder.finish()])
    assert data[44:] == pcm == mulaw_to_pcm16(mulaw)


def test_encode_pcm_yields_no_empty_chunks() -> None:
    chunks = list(encode_pcm([b"", b"\x00", b"\x00" * 7], "flac", sample_rate=8000, channels=2))
    assert all(chunks) and decode_file(b"".join(chunks))[0].shape == (2, 2)


def test_length_must_match_what_was_announced() -> None:
    encoder = AudioEncoder("wav", sample_rate=8000, channels=1, total_frames=2)
    with pytest.raises(ValueError, match="more than the 2"):
        encoder.encode(bytes(6))
    encoder.encode(bytes(2))
    with pytest.raises(ValueError, match="1 sample frames given, 2 announced"):
        encoder.finish()
    odd = AudioEncoder("flac", sample_rate=8000, channels=2)
    odd.encode(bytes(5))
    with pytest.raises(ValueError, match="inside a sample frame"):
        odd.finish()
    with pytest.raises(ValueError, match="finished"):
        odd.encode(b"")


def test_unknown_length_streams_still_decode() -> None:
    pcm = tone_pcm(8000, 2, 20000)
    for fmt in AudioFormat:
        data = b"".join(encode_pcm(split(pcm, (999,)), fmt, sample_rate=8000, channels=2))
        samples = decode_file(data)[0]
        assert len(samples) >= 20000, fmt
    wav = b"".join(encode_pcm([pcm], "wav", sample_rate=8000, channels=2))
    assert wav[4:8] == wav[40:44] == b"\xff\xff\xff\xff"


def test_m4a_is_fragmented_with_priming_in_the_edit_list() -> None:
    data = encode("aac", tone_pcm(8000, 2, 8000 * 7), 8000, 2)
    boxes = _top_level_boxes(data)
    assert boxes[:3] == [b"ftyp", b"moov", b"moof"] and boxes[-1] == b"mfra"
    assert boxes.count(b"moof") == 4  # 2-second fragments
    moov = data[data.index(b"moov") - 4 :]
    elst = moov[moov.index(b"elst") + 4 :]
    assert int.from_bytes(elst[12:16], "big") == 1024  # media time: after the priming
    assert b"mdat" not in moov[: int.from_bytes(moov[:4], "big")]


def _top_level_boxes(data: bytes) -> list[bytes]:
    names, position = [], 0
    while position < len(data):
        size = int.from_bytes(data[position : position + 4], "big")
        names.append(data[position + 4 : position + 8])
        position += size
    return names
