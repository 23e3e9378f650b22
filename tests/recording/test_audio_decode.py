"""Reading files: recognising audio, decoding it, and transcoding between the formats."""

from __future__ import annotations

import io
import json
import os

import pytest

from aicc.recording.audio import (
    AudioDecoder,
    AudioFormat,
    CorruptAudio,
    NotAudio,
    Transcoder,
    UnsupportedAudio,
    encode_pcm,
    probe_audio,
)
from tests.recording.test_audio_signals import (
    as_frames,
    decode_file,
    encode_with_pyav,
    noise_pcm,
    pyav_mulaw_decode,
    pyav_mulaw_encode,
    snr_db,
    split,
    tone_pcm,
)


class ForwardOnly:
    """A reader without ``seek``, like a decrypting stream."""

    def __init__(self, data: bytes) -> None:
        self._buffer = io.BytesIO(data)

    def read(self, size: int = -1) -> bytes:
        return self._buffer.read(size)


def stored(fmt: str, pcm: bytes, rate: int, channels: int) -> bytes:
    frames = len(pcm) // (2 * channels)
    chunks = encode_pcm(
        split(pcm, (4001,)), fmt, sample_rate=rate, channels=channels, total_frames=frames
    )
    return b"".join(chunks)


@pytest.mark.parametrize(
    "body",
    [
        os.urandom(10_000),
        json.dumps({"recording_id": "r-1", "audio": "base64..."}).encode(),
        b"",
        b"RIFF",
        "텍스트 파일입니다\n".encode(),
        b"<html><body>not audio</body></html>",
    ],
    ids=["random", "json", "empty", "short", "text", "html"],
)
def test_not_audio(body: bytes) -> None:
    with pytest.raises(NotAudio) as caught:
        probe_audio(io.BytesIO(body))
    assert caught.value.code == "not_audio"


def test_audio_file_that_cannot_be_read_is_corrupt() -> None:
    wav = stored("wav", tone_pcm(8000, 1, 8000), 8000, 1)
    for broken in (b"RIFF\x00\x00\x00\x00WAVE" + os.urandom(200), b"fLaC" + os.urandom(500)):
        with pytest.raises(CorruptAudio) as caught:
            probe_audio(io.BytesIO(broken))
        assert caught.value.code == "corrupt_audio" and isinstance(caught.value, NotAudio)
    assert probe_audio(io.BytesIO(wav[:100])).codec == "pcm_s16le"  # truncated, still audio


@pytest.mark.parametrize("fmt", ["mp3", "flac", "aac"])
def test_damaged_packets_are_skipped_and_counted(fmt: str) -> None:
    data = stored(fmt, tone_pcm(8000, 2, 80_000), 8000, 2)
    middle = len(data) // 2
    damaged = data[:middle] + bytes(b ^ 0x5A for b in data[middle : middle + 2000])
    damaged += data[middle + 2000 : len(data) - 1000]  # and cut short
    transcoder = Transcoder(io.BytesIO(damaged), "wav")
    wav = b"".join(transcoder)
    assert transcoder.decode_errors > 0
    assert 60_000 < transcoder.frames < 80_000
    assert len(decode_file(wav)[0]) == transcoder.frames


class Tampered(Exception):
    pass


class FailsHalfway(io.BytesIO):
    """A seekable reader whose second half fails its integrity check, like a SealedFile."""

    def read(self, size: int | None = -1) -> bytes:
        if self.tell() >= len(self.getbuffer()) // 2:
            raise Tampered("segment 3")
        return super().read(size)


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_reader_errors_propagate_unchanged(fmt: AudioFormat) -> None:
    data = stored(fmt, tone_pcm(8000, 2, 160_000), 8000, 2)
    with pytest.raises(Tampered), AudioDecoder(FailsHalfway(data)) as decoder:
        for _ in decoder:
            pass
    with pytest.raises(Tampered):
        b"".join(Transcoder(FailsHalfway(data), "mp3", total_frames=160_000))


def test_other_audio_is_unsupported() -> None:
    adts = encode_with_pyav("aac", "adts", tone_pcm(8000, 1, 4000), 8000, 1)
    ogg = encode_with_pyav("flac", "ogg", tone_pcm(8000, 1, 4000), 8000, 1)
    for body in (adts, ogg, b"FORM\x00\x00\x00\x00AIFF" + bytes(64)):
        with pytest.raises(UnsupportedAudio) as caught:
            probe_audio(io.BytesIO(body))
        assert caught.value.code == "unsupported_audio"


def test_unsupported_codec_in_a_known_container() -> None:
    adpcm = encode_with_pyav("adpcm_ms", "wav", tone_pcm(8000, 1, 4000), 8000, 1)
    with pytest.raises(UnsupportedAudio, match="adpcm_ms audio in wav"):
        probe_audio(io.BytesIO(adpcm))


@pytest.mark.parametrize("channels", [1, 2])
def test_wav_mulaw_as_amazon_connect_writes_it(channels: int) -> None:
    pcm = tone_pcm(8000, channels, 12_345)
    mulaw_wav = encode_with_pyav("pcm_mulaw", "wav", pcm, 8000, channels)
    expected = pyav_mulaw_decode(pyav_mulaw_encode(pcm))
    with AudioDecoder(io.BytesIO(mulaw_wav)) as decoder:
        info = decoder.info
        decoded = b"".join(decoder)
        assert decoder.frames == 12_345
    assert (info.container, info.codec, info.sample_rate, info.channels) == (
        "wav", "pcm_mulaw", 8000, channels,
    )  # fmt: skip
    assert info.format is None  # stored only after transcoding
    assert info.duration == pytest.approx(12_345 / 8000)
    assert decoded == expected


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_probe_recognises_each_stored_format(fmt: AudioFormat) -> None:
    data = stored(fmt, tone_pcm(16000, 2, 16000), 16000, 2)
    info = probe_audio(io.BytesIO(data))
    assert info.format is fmt
    assert (info.sample_rate, info.channels) == (16000, 2)
    assert info.duration == pytest.approx(1.0, abs=0.15)


@pytest.mark.parametrize("fmt", list(AudioFormat))
def test_forward_only_sources_decode(fmt: AudioFormat) -> None:
    pcm = tone_pcm(8000, 2, 20_000)
    with AudioDecoder(ForwardOnly(stored(fmt, pcm, 8000, 2))) as decoder:
        decoded = b"".join(decoder)
    assert decoder.frames == len(decoded) // 4
    if fmt in (AudioFormat.WAV, AudioFormat.FLAC):
        assert decoded == pcm
    else:
        # FFmpeg trims MP3's encoder delay but not its end padding without seeking
        assert 20_000 <= decoder.frames < 20_000 + 1152
        reference = as_frames(pcm, 2)[4000:16000]
        assert snr_db(reference, as_frames(decoded, 2)[4000:16000]) > 12


def test_chunks_are_bounded_and_resampling_is_on_request() -> None:
    pcm = noise_pcm(2, 48_000)
    with AudioDecoder(io.BytesIO(stored("flac", pcm, 16000, 2)), chunk_frames=1000) as decoder:
        sizes = [len(chunk) for chunk in decoder]
    assert max(sizes) <= (1000 + 4096) * 4 and sum(sizes) == len(pcm)
    with AudioDecoder(
        io.BytesIO(stored("mp3", tone_pcm(16000, 2, 48_000), 16000, 2)),
        sample_rate=8000,
        channels=1,
    ) as decoder:
        samples = as_frames(b"".join(decoder), 1)
    assert abs(len(samples) - 24_000) <= 32 and decoder.frames == len(samples)


def test_flac_to_mp3_counts_frames() -> None:
    flac = stored("flac", tone_pcm(16000, 2, 40_000), 16000, 2)
    transcoder = Transcoder(io.BytesIO(flac), "mp3")
    mp3 = b"".join(transcoder)
    assert transcoder.frames == transcoder.total_frames == 40_000
    assert transcoder.source_info.format is AudioFormat.FLAC
    samples, rate, _ = decode_file(mp3)
    assert (len(samples), rate) == (40_000, 16000)


def test_wav_to_aac_counts_frames() -> None:
    wav = stored("wav", tone_pcm(8000, 1, 30_000), 8000, 1)
    transcoder = Transcoder(io.BytesIO(wav), "aac", bitrate=24000)
    m4a = b"".join(transcoder)
    assert transcoder.frames == 30_000 and transcoder.total_frames is None
    samples, rate, stream = decode_file(m4a)
    assert 30_000 <= len(samples) < 31_024 and rate == 8000
    assert stream.codec_context.channels == 1


def test_download_fits_the_stored_sample_count() -> None:
    m4a = stored("aac", tone_pcm(8000, 2, 30_000), 8000, 2)
    assert len(decode_file(m4a)[0]) > 30_000  # AAC's last block is padded
    for total in (30_000, 31_500):
        transcoder = Transcoder(io.BytesIO(m4a), "wav", total_frames=total)
        wav = b"".join(transcoder)
        assert transcoder.frames == total
        samples = decode_file(wav)[0]
        assert len(samples) == total
        assert not samples[31_100:].any()  # padded with silence


def test_transcoding_a_forward_only_source_streams_unknown_length() -> None:
    flac = stored("flac", noise_pcm(1, 20_000), 8000, 1)
    transcoder = Transcoder(ForwardOnly(flac), "wav")
    wav = b"".join(transcoder)
    assert transcoder.total_frames is None and transcoder.frames == 20_000
    assert wav[40:44] == b"\xff\xff\xff\xff"
    assert decode_file(wav)[0].tobytes() == noise_pcm(1, 20_000)


def test_transcoding_checks_the_target_can_hold_the_source() -> None:
    flac_6ch = encode_with_pyav("flac", "flac", noise_pcm(6, 1000), 8000, 6)
    with pytest.raises(UnsupportedAudio, match="mp3 takes 1 to 2 channels"):
        Transcoder(io.BytesIO(flac_6ch), "mp3")
    transcoder = Transcoder(io.BytesIO(flac_6ch), "mp3", channels=2)
    assert transcoder.source_info.channels == 6 and transcoder.channels == 2
    assert len(decode_file(b"".join(transcoder))[0]) == 1000
    wav = stored("wav", tone_pcm(8000, 1, 100), 8000, 1)
    with pytest.raises(UnsupportedAudio, match="bitrate"):
        Transcoder(io.BytesIO(wav), "mp3", bitrate=128000)
