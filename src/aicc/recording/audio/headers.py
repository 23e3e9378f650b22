"""Container headers written ahead of the audio, so no muxer ever needs to seek back.

An encoded recording streams straight into an encrypting uploader, so nothing can be patched
once written. FFmpeg's muxers patch their headers at the end when the output is seekable and
otherwise leave them incomplete (measured with PyAV 18 / FFmpeg 8.1): WAV sizes stay
0xFFFFFFFF, FLAC's STREAMINFO has no sample count (players show no duration), and MP3 gets no
Xing/LAME tag at all (decoders then play LAME's 1,105 samples of encoder delay and up to a
frame of padding, and estimate the duration from the bitrate). At finalize time the number of
sample frames is known before encoding starts, so these headers are written complete here.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

WAV_UNKNOWN_SIZE = 0xFFFFFFFF
WAV_MAX_DATA_BYTES = 0xFFFFFFFF - 36
FLAC_STREAMINFO_BYTES = 34
FLAC_MAX_SAMPLES = (1 << 36) - 1

MP3_DECODER_DELAY = 529
"""Samples every MP3 decoder adds in front (its filterbank delay), counted in LAME's delay."""
MP3_FLUSH_SAMPLES = 1152
"""LAME's frames for ``n > 0`` samples: ``ceil((n + 1152) / samples_per_frame)`` (measured
for 8 to 48 kHz, mono and stereo, any chunking)."""

_MPEG_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_MPEG1_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MPEG2_KBPS = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_LAME_VERSION = b"LAME3.100"
_LAME_TAG_BYTES = 36
_XING_FLAGS = 0x0F  # frames, bytes, table of contents, quality


def wav_header(sample_rate: int, channels: int, total_frames: int | None) -> bytes:
    """A canonical 44-byte PCM s16le header; unknown length gives FFmpeg's streaming sizes."""
    block_align = 2 * channels
    if total_frames is None:
        riff_size = data_size = WAV_UNKNOWN_SIZE
    else:
        data_size = total_frames * block_align
        if data_size > WAV_MAX_DATA_BYTES:
            raise ValueError(f"{total_frames} sample frames do not fit in a WAV file (4 GiB)")
        riff_size = 36 + data_size
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", riff_size, b"WAVE",
        b"fmt ", 16, 1, channels, sample_rate, sample_rate * block_align, block_align, 16,
        b"data", data_size,
    )  # fmt: skip


def flac_stream_header(streaminfo: bytes, total_frames: int | None) -> bytes:
    """``fLaC`` and the encoder's STREAMINFO, with the sample count set (0 means unknown)."""
    if len(streaminfo) != FLAC_STREAMINFO_BYTES:
        raise ValueError("STREAMINFO must be 34 bytes")
    total = total_frames or 0
    if total > FLAC_MAX_SAMPLES:
        raise ValueError(f"{total} sample frames do not fit in FLAC's 36-bit count")
    info = bytearray(streaminfo)
    packed = int.from_bytes(info[10:18], "big")
    info[10:18] = ((packed & ~FLAC_MAX_SAMPLES) | total).to_bytes(8, "big")
    info[18:34] = bytes(16)  # MD5 of the audio: unknown until the end, all zeros says so
    last_block_streaminfo = bytes((0x80, 0, 0, FLAC_STREAMINFO_BYTES))
    return b"fLaC" + last_block_streaminfo + bytes(info)


@dataclass(frozen=True, slots=True)
class MpegHeader:
    """The 32-bit header of an MPEG audio Layer III frame."""

    word: int

    @classmethod
    def parse(cls, frame: bytes) -> MpegHeader:
        word = int.from_bytes(frame[:4], "big")
        if word >> 21 != 0x7FF or (word >> 17) & 3 != 1 or (word >> 19) & 3 == 1:
            raise ValueError("not an MPEG audio Layer III frame")
        return cls(word)

    @classmethod
    def for_stream(cls, sample_rate: int, channels: int, bitrate: int) -> MpegHeader:
        """The header LAME would write for these parameters (no CRC, no padding)."""
        version = next((v for v, rates in _MPEG_RATES.items() if sample_rate in rates), None)
        if version is None:
            raise ValueError(f"MP3 has no {sample_rate} Hz")
        rates = _MPEG_RATES[version]
        mode = 3 if channels == 1 else 0
        word = 0xFFE00000 | version << 19 | 1 << 17 | 1 << 16 | rates.index(sample_rate) << 10
        header = cls(word | mode << 6)
        kbps = header._kbps_table()
        index = min(range(1, 15), key=lambda i: abs(kbps[i] * 1000 - bitrate))
        return header.with_bitrate_index(index)

    @property
    def is_mpeg1(self) -> bool:
        return (self.word >> 19) & 3 == 3

    @property
    def sample_rate(self) -> int:
        return _MPEG_RATES[(self.word >> 19) & 3][(self.word >> 10) & 3]

    @property
    def mono(self) -> bool:
        return (self.word >> 6) & 3 == 3

    @property
    def bitrate_index(self) -> int:
        return (self.word >> 12) & 0xF

    @property
    def kbps(self) -> int:
        return self._kbps_table()[self.bitrate_index]

    @property
    def samples_per_frame(self) -> int:
        return 1152 if self.is_mpeg1 else 576

    @property
    def side_info_bytes(self) -> int:
        if self.is_mpeg1:
            return 17 if self.mono else 32
        return 9 if self.mono else 17

    @property
    def frame_bytes(self) -> int:
        padding = (self.word >> 9) & 1
        return self._slot_bytes_per_kbps() * self.kbps * 1000 // self.sample_rate + padding

    @property
    def constant_frame_bytes(self) -> bool:
        """Whether every frame at this bitrate has the same size (no padding slots needed)."""
        return self._slot_bytes_per_kbps() * self.kbps * 1000 % self.sample_rate == 0

    def with_bitrate_index(self, index: int) -> MpegHeader:
        return MpegHeader(self.word & ~(0xF << 12) & ~(1 << 9) | 1 << 16 | index << 12)

    def silent_frame(self) -> bytes:
        """A frame of digital silence: zero side information, no main data."""
        return self.word.to_bytes(4, "big") + bytes(self.frame_bytes - 4)

    def _kbps_table(self) -> tuple[int, ...]:
        return _MPEG1_KBPS if self.is_mpeg1 else _MPEG2_KBPS

    def _slot_bytes_per_kbps(self) -> int:
        return 144 if self.is_mpeg1 else 72


def lame_info_frame(
    stream: MpegHeader,
    *,
    frames: int,
    audio_bytes: int | None,
    encoder_delay: int,
    end_padding: int,
) -> bytes:
    """A LAME "Info" tag frame (the CBR form of Xing) to put before ``frames`` audio frames.

    Decoders take the duration from ``frames`` and drop ``encoder_delay + 529`` samples at the
    start and ``end_padding`` at the end, so the decoded audio is exactly what was encoded.
    ``audio_bytes`` (the audio frames' total size) may be ``None`` when frame sizes vary. The
    tag's music CRC (of all audio frames) cannot be known in advance and is left zero; the tag
    CRC is right, so FFmpeg also reports the encoder.

    One decoder quirk: when the end padding starts in the second audio frame (fewer than 47
    samples of audio at 576 samples per frame), FFmpeg 8.1 forgets the rest of the start skip
    and decodes 529 samples too many.
    """
    if not (0 <= encoder_delay < 4096 and 0 <= end_padding < 4096):
        raise ValueError("encoder delay and padding must each fit in 12 bits")
    tag_offset = 4 + stream.side_info_bytes
    needed = tag_offset + 4 + 4 + 4 + 4 + 100 + 4 + _LAME_TAG_BYTES
    for index in (stream.bitrate_index, *range(1, 15)):
        header = stream.with_bitrate_index(index)
        if header.frame_bytes >= needed:
            break
    size = header.frame_bytes
    total_bytes = size + (audio_bytes or 0)
    flags = _XING_FLAGS if audio_bytes is not None else _XING_FLAGS & ~0x02
    frame = bytearray(size)
    struct.pack_into(">I", frame, 0, header.word)
    position = tag_offset
    frame[position : position + 4] = b"Info"
    struct.pack_into(">II", frame, position + 4, flags, frames)
    position += 12
    if audio_bytes is not None:
        struct.pack_into(">I", frame, position, total_bytes)
        position += 4
    frame[position : position + 100] = bytes(256 * i // 100 for i in range(100))
    position += 100 + 4  # table of contents (linear: constant bitrate), quality 0
    lame = bytearray(_LAME_TAG_BYTES)
    lame[0:9] = _LAME_VERSION
    lame[9] = 0x01  # tag revision 0, constant bitrate
    lame[20] = min(stream.kbps, 255)
    lame[21:24] = (encoder_delay << 12 | end_padding).to_bytes(3, "big")
    if audio_bytes is not None:
        lame[28:32] = total_bytes.to_bytes(4, "big")
    frame[position : position + _LAME_TAG_BYTES] = lame
    crc_at = position + _LAME_TAG_BYTES - 2
    struct.pack_into(">H", frame, crc_at, _crc16_arc(frame[:crc_at]))
    return bytes(frame)


def lame_frame_count(total_frames: int, samples_per_frame: int) -> int:
    """How many audio frames LAME (through FFmpeg) writes for ``total_frames`` samples."""
    if total_frames == 0:
        return 0
    return -(-(total_frames + MP3_FLUSH_SAMPLES) // samples_per_frame)


def _crc16_arc(data: bytes | bytearray) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc
