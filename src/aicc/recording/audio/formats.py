"""What the recording service stores and takes: formats, capture parameters and bitrates.

Bitrates are bits per second. The lossy formats default to 32 kbps per channel: telephony
speech is band-limited to 4 kHz (8 kHz capture) or 8 kHz (16 kHz capture), and at this rate
both MP3 and AAC-LC keep it intelligible with no audible artefacts, at about 14 MB per hour of
8 kHz stereo. The allowed bitrates are those the encoders actually honour at each rate:

- MP3 (MPEG-2 / 2.5 Layer III below 32 kHz): the standard bitrates from 8 kbps per channel up
  to LAME's limit, 64 kbps in all at 8 kHz and 160 kbps at 16 kHz. Higher requests would be
  silently lowered by LAME.
- AAC-LC (FFmpeg's native encoder): 16 to 96 kbps per channel, capped at 6 bits per sample
  and channel (48 kbps per channel at 8 kHz, 96 at 16 kHz), beyond which FFmpeg clamps.
  The native encoder treats the bitrate as a target: simple signals come out smaller.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import ClassVar


class AudioError(Exception):
    """A source the service cannot take as audio; the HTTP layer answers 422 with ``code``."""

    code: ClassVar[str] = "invalid_audio"


class NotAudio(AudioError):
    """The bytes are not an audio file this service recognises (random data, JSON, text...)."""

    code = "not_audio"


class CorruptAudio(NotAudio):
    """The bytes start like an audio file but cannot be read or decoded."""

    code = "corrupt_audio"


class UnsupportedAudio(AudioError):
    """Audio, but in a container or codec (or with parameters) the service does not take."""

    code = "unsupported_audio"


class AudioFormat(StrEnum):
    WAV = "wav"
    FLAC = "flac"
    MP3 = "mp3"
    AAC = "aac"


class InputEncoding(StrEnum):
    """How live call audio arrives: samples interleaved, customer left and agent right."""

    PCM_S16LE = "pcm_s16le"
    MULAW = "mulaw"

    @property
    def sample_bytes(self) -> int:
        return 2 if self is InputEncoding.PCM_S16LE else 1


@dataclass(frozen=True, slots=True)
class FormatSpec:
    codec: str
    """The codec as FFmpeg names it, and as :class:`AudioInfo` reports it."""
    encoder: str
    """The FFmpeg encoder used to write it."""
    extension: str
    mime_type: str
    lossless: bool


FORMAT_SPECS: dict[AudioFormat, FormatSpec] = {
    AudioFormat.WAV: FormatSpec("pcm_s16le", "pcm_s16le", "wav", "audio/wav", lossless=True),
    AudioFormat.FLAC: FormatSpec("flac", "flac", "flac", "audio/flac", lossless=True),
    AudioFormat.MP3: FormatSpec("mp3", "libmp3lame", "mp3", "audio/mpeg", lossless=False),
    AudioFormat.AAC: FormatSpec("aac", "aac", "m4a", "audio/mp4", lossless=False),
}

SAMPLE_RATES: tuple[int, ...] = (8000, 16000)
CHANNEL_COUNTS: tuple[int, ...] = (1, 2)
INPUT_ENCODINGS: tuple[InputEncoding, ...] = tuple(InputEncoding)
DEFAULT_BITRATE_PER_CHANNEL = 32_000

MPEG1_SAMPLE_RATES = (32000, 44100, 48000)
MP3_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, *MPEG1_SAMPLE_RATES)
AAC_SAMPLE_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000, 64000, 88200,
                    96000)  # fmt: skip
MPEG2_KBPS = (8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
MPEG1_KBPS = (32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
AAC_KBPS_PER_CHANNEL = (16, 24, 32, 40, 48, 56, 64, 80, 96)


def channel_layout(channels: int) -> str:
    """FFmpeg's name for the usual layout of ``channels`` channels."""
    return {1: "mono", 2: "stereo"}.get(channels, f"{channels} channels")


def parse_format(value: str | AudioFormat) -> AudioFormat:
    try:
        return AudioFormat(value)
    except ValueError:
        allowed = ", ".join(f.value for f in AudioFormat)
        raise ValueError(f"unknown audio format {value!r}; use one of {allowed}") from None


def parse_input_encoding(value: str | InputEncoding) -> InputEncoding:
    try:
        return InputEncoding(value)
    except ValueError:
        allowed = ", ".join(e.value for e in InputEncoding)
        raise ValueError(f"unknown input encoding {value!r}; use one of {allowed}") from None


def check_capture(sample_rate: int, channels: int) -> None:
    """Raise ``ValueError`` unless live audio may be captured with these parameters."""
    if sample_rate not in SAMPLE_RATES:
        raise ValueError(f"sample rate must be one of {SAMPLE_RATES}, not {sample_rate}")
    if channels not in CHANNEL_COUNTS:
        raise ValueError(f"channels must be one of {CHANNEL_COUNTS}, not {channels}")


def check_encodable(fmt: AudioFormat, sample_rate: int, channels: int) -> None:
    """Raise ``ValueError`` unless ``fmt`` can be written at this rate and channel count."""
    rates = {AudioFormat.MP3: MP3_SAMPLE_RATES, AudioFormat.AAC: AAC_SAMPLE_RATES}.get(fmt)
    if rates is not None and sample_rate not in rates:
        raise ValueError(f"{fmt} cannot be written at {sample_rate} Hz; use one of {rates}")
    if not 1 <= sample_rate <= 655_350:
        raise ValueError(f"sample rate {sample_rate} is out of range")
    most = 2 if fmt is AudioFormat.MP3 else 8
    if not 1 <= channels <= most:
        raise ValueError(f"{fmt} takes 1 to {most} channels, not {channels}")


def allowed_bitrates(fmt: AudioFormat, sample_rate: int, channels: int) -> tuple[int, ...]:
    """The bitrates (bits per second, all channels together) ``fmt`` honours; empty if lossless."""
    if fmt is AudioFormat.MP3:
        if sample_rate in MPEG1_SAMPLE_RATES:
            kbps, most = MPEG1_KBPS, 320
        else:
            kbps, most = MPEG2_KBPS, 64 if sample_rate <= 12000 else 160
        return tuple(k * 1000 for k in kbps if 8 * channels <= k <= most)
    if fmt is AudioFormat.AAC:
        most_per_channel = 6 * sample_rate
        return tuple(
            k * 1000 * channels for k in AAC_KBPS_PER_CHANNEL if k * 1000 <= most_per_channel
        )
    return ()


def default_bitrate(fmt: AudioFormat, sample_rate: int, channels: int) -> int | None:
    """32 kbps per channel, or the nearest allowed below it; ``None`` for lossless formats."""
    allowed = allowed_bitrates(fmt, sample_rate, channels)
    if not allowed:
        return None
    wanted = DEFAULT_BITRATE_PER_CHANNEL * channels
    return max((b for b in allowed if b <= wanted), default=allowed[0])


def resolve_bitrate(
    fmt: AudioFormat, sample_rate: int, channels: int, bitrate: int | None
) -> int | None:
    """The bitrate to encode with: the default when ``None``; ``ValueError`` if not allowed."""
    if bitrate is None:
        return default_bitrate(fmt, sample_rate, channels)
    allowed = allowed_bitrates(fmt, sample_rate, channels)
    if not allowed:
        raise ValueError(f"{fmt} is lossless and takes no bitrate")
    if bitrate not in allowed:
        raise ValueError(
            f"{fmt} at {sample_rate} Hz with {channels} channel(s) takes a bitrate of "
            f"{', '.join(str(b) for b in allowed)} bits/s, not {bitrate}"
        )
    return bitrate
