"""Reading audio files: recognising them, reporting what they hold, decoding them to PCM.

The container is recognised here from its first bytes, and FFmpeg is then told which demuxer
to use. Letting FFmpeg probe would expose its few hundred demuxers to uploaded bytes (some,
such as HLS playlists, open further URLs or files), and would happily read garbage as one of
the raw formats.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import BinaryIO, Protocol, runtime_checkable

import av
from av.audio.frame import AudioFrame
from av.audio.resampler import AudioResampler
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.packet import Packet

from aicc.recording.audio.formats import (
    AudioFormat,
    CorruptAudio,
    NotAudio,
    UnsupportedAudio,
    channel_layout,
)

SNIFF_BYTES = 64
DEFAULT_CHUNK_FRAMES = 16384
MAX_LEADING_DECODE_ERRORS = 16
"""Packets that may fail before the first decodes, before the file is called corrupt."""

WAV_CODECS = frozenset({"pcm_s16le", "pcm_mulaw", "pcm_alaw", "pcm_u8", "pcm_s24le",
                        "pcm_s32le", "pcm_f32le", "pcm_f64le"})  # fmt: skip
CONTAINER_CODECS: dict[str, frozenset[str]] = {
    "wav": WAV_CODECS,
    "flac": frozenset({"flac"}),
    "mp3": frozenset({"mp3"}),
    "mp4": frozenset({"aac"}),
}
STORED_FORMATS: dict[tuple[str, str], AudioFormat] = {
    ("wav", "pcm_s16le"): AudioFormat.WAV,
    ("flac", "flac"): AudioFormat.FLAC,
    ("mp3", "mp3"): AudioFormat.MP3,
    ("mp4", "aac"): AudioFormat.AAC,
}
_OTHER_AUDIO_MAGIC = (
    (0, b"OggS", "Ogg"),
    (0, b"#!AMR", "AMR"),
    (0, b".snd", "Sun AU"),
    (0, b"caff", "Core Audio"),
    (0, b"MThd", "MIDI"),
    (0, b"\x30\x26\xb2\x75\x8e\x66\xcf\x11", "ASF/WMA"),
    (0, b"\x1a\x45\xdf\xa3", "Matroska/WebM"),
    (8, b"AIFF", "AIFF"),
    (8, b"AIFC", "AIFF-C"),
)


class Readable(Protocol):
    def read(self, size: int = -1, /) -> bytes: ...


@runtime_checkable
class SeekableReadable(Readable, Protocol):
    def seekable(self) -> bool: ...
    def seek(self, offset: int, whence: int = 0, /) -> int: ...
    def tell(self) -> int: ...


@dataclass(frozen=True, slots=True)
class AudioInfo:
    """What a source holds, as its container declares it."""

    container: str
    """``wav``, ``flac``, ``mp3`` or ``mp4`` (M4A)."""
    codec: str
    """FFmpeg's codec name: ``pcm_s16le``, ``pcm_mulaw``, ``flac``, ``mp3``, ``aac``..."""
    sample_rate: int
    channels: int
    duration: float | None
    """Seconds, as the container states it (missing in streams, may include padding)."""
    bit_rate: int | None
    other_streams: int
    """Streams besides the audio one read (video, cover art...)."""

    @property
    def format(self) -> AudioFormat | None:
        """Which stored format the file already is, or ``None`` if it must be transcoded."""
        if self.other_streams:
            return None
        return STORED_FORMATS.get((self.container, self.codec))


def sniff_container(head: bytes) -> str:
    """The demuxer for a file starting with ``head``; ``NotAudio`` or ``UnsupportedAudio``."""
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav"
    if head[:4] == b"fLaC":
        return "flac"
    if head[:3] == b"ID3" or _is_mpeg_layer3(head):
        return "mp3"
    if head[4:8] == b"ftyp":
        return "mp4"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        raise UnsupportedAudio("raw AAC (ADTS) is not taken; send it in M4A")
    for offset, magic, name in _OTHER_AUDIO_MAGIC:
        if head[offset : offset + len(magic)] == magic:
            raise UnsupportedAudio(f"{name} audio is not taken; send WAV, FLAC, MP3 or M4A")
    raise NotAudio("not a WAV, FLAC, MP3 or M4A file")


def _is_mpeg_layer3(head: bytes) -> bool:
    if len(head) < 4:
        return False
    word = int.from_bytes(head[:4], "big")
    return (
        word >> 21 == 0x7FF
        and (word >> 19) & 3 != 1
        and (word >> 17) & 3 == 1
        and (word >> 12) & 0xF not in (0, 0xF)
        and (word >> 10) & 3 != 3
    )


class _Replaying:
    """A forward-only reader that first gives back the bytes already read for sniffing.

    It has no ``seek``, so PyAV treats it as a stream."""

    def __init__(self, head: bytes, rest: Readable) -> None:
        self._head = head
        self._rest = rest

    def read(self, size: int = -1) -> bytes:
        if self._head:
            if size < 0:
                data, self._head = self._head + self._rest.read(), b""
                return data
            data, self._head = self._head[:size], self._head[size:]
            return data
        return self._rest.read(size)


def _read_head(source: Readable) -> bytes:
    head = b""
    while len(head) < SNIFF_BYTES:
        more = source.read(SNIFF_BYTES - len(head))
        if not more:
            break
        head += more
    return head


class AudioDecoder:
    """Decode a source into chunks of interleaved s16le PCM, counting the sample frames.

    Opening recognises the file (``NotAudio``, ``UnsupportedAudio`` or ``CorruptAudio``,
    all ``AudioError``) and decodes its first frame; ``info`` then describes the source.
    Damaged packets further on are skipped and counted in ``decode_errors``.
    Iterating yields chunks of about ``chunk_frames`` sample frames, at the source's rate and
    channel count unless ``sample_rate`` or ``channels`` ask otherwise; ``frames`` counts
    what was yielded. A seekable source (``seekable()``, ``seek``, ``tell``) is read from its
    start; others are read forward only, which M4A files with the moov at the end do not allow.
    """

    def __init__(
        self,
        source: BinaryIO | Readable,
        *,
        sample_rate: int | None = None,
        channels: int | None = None,
        chunk_frames: int = DEFAULT_CHUNK_FRAMES,
    ) -> None:
        reader: Readable
        if isinstance(source, SeekableReadable) and source.seekable():
            source.seek(0)
            head = _read_head(source)
            source.seek(0)
            reader = source
        else:
            head = _read_head(source)
            reader = _Replaying(head, source)
        container_name = sniff_container(head)
        try:
            self._container: InputContainer = av.open(reader, mode="r", format=container_name)
        except av.FFmpegError as exc:
            raise CorruptAudio(f"unreadable {container_name} file: {exc}") from exc
        try:
            self._stream = self._audio_stream(container_name)
            context = self._stream.codec_context
            codec = context.codec.canonical_name
            if codec not in CONTAINER_CODECS[container_name]:
                raise UnsupportedAudio(f"{codec} audio in {container_name} is not taken")
            if context.sample_rate <= 0 or context.channels <= 0:
                raise CorruptAudio("the file states no sample rate or channel count")
            self.info = AudioInfo(
                container=container_name,
                codec=codec,
                sample_rate=context.sample_rate,
                channels=context.channels,
                duration=self._duration(),
                bit_rate=context.bit_rate or self._container.bit_rate or None,
                other_streams=len(self._container.streams) - 1,
            )
            self.sample_rate = sample_rate or context.sample_rate
            self.channels = channels or context.channels
            self.frames = 0
            """Sample frames yielded so far (after any resampling)."""
            self.decode_errors = 0
            """Damaged packets skipped so far (their audio is missing from the output)."""
            self._chunk_bytes = max(1, chunk_frames) * 2 * self.channels
            self._resampler = AudioResampler(
                format="s16", layout=channel_layout(self.channels), rate=self.sample_rate
            )
            self._frames = self._decoded_frames()
            self._first = next(self._frames, None)
        except BaseException:
            self._container.close()
            raise

    def _audio_stream(self, container_name: str) -> AudioStream:
        streams = self._container.streams.audio
        if not streams:
            raise NotAudio(f"the {container_name} file has no audio stream")
        return streams[0]

    def _duration(self) -> float | None:
        stream = self._stream
        if stream.duration is not None and stream.time_base is not None:
            return float(stream.duration * stream.time_base)
        if self._container.duration is not None:
            return self._container.duration / av.time_base
        return None

    def _decoded_frames(self) -> Iterator[AudioFrame]:
        """Decoded frames, resampled; damaged packets are skipped as FFmpeg's CLI does."""
        decoded_any = False
        for packet in self._packets():
            try:
                frames = packet.decode()
            except av.FFmpegError as exc:
                self.decode_errors += 1
                if not decoded_any and self.decode_errors >= MAX_LEADING_DECODE_ERRORS:
                    raise CorruptAudio(f"the {self.info.container} audio does not decode") from exc
                continue
            for frame in frames:
                decoded_any = True
                yield from self._resampler.resample(frame)
        if self.decode_errors and not decoded_any:
            raise CorruptAudio(f"the {self.info.container} audio does not decode")
        yield from self._resampler.resample(None)

    def _packets(self) -> Iterator[Packet[AudioStream]]:
        try:
            yield from self._container.demux(self._stream)
        except av.FFmpegError as exc:
            raise CorruptAudio(f"the {self.info.container} file cannot be read: {exc}") from exc

    def frame_iter(self) -> Iterator[AudioFrame]:
        """The decoded s16 frames themselves, counted in ``frames``."""
        if self._first is not None:
            first, self._first = self._first, None
            self.frames += first.samples
            yield first
        for frame in self._frames:
            self.frames += frame.samples
            yield frame

    def __iter__(self) -> Iterator[bytes]:
        pending = bytearray()
        for frame in self.frame_iter():
            data = memoryview(frame.planes[0])[: frame.samples * 2 * self.channels]
            if not pending and len(data) >= self._chunk_bytes:
                yield bytes(data)
                continue
            pending += data
            if len(pending) >= self._chunk_bytes:
                yield bytes(pending)
                pending.clear()
        if pending:
            yield bytes(pending)

    def drain(self) -> int:
        """Decode the rest without keeping it; the total of ``frames``."""
        for _ in self.frame_iter():
            pass
        return self.frames

    def close(self) -> None:
        self._container.close()

    def __enter__(self) -> AudioDecoder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def probe_audio(source: BinaryIO | Readable) -> AudioInfo:
    """Recognise a source and describe it (decoding only its first frame)."""
    with AudioDecoder(source) as decoder:
        return decoder.info
