"""Transcoding a stored or imported file into one of the four formats, as a stream of chunks."""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import BinaryIO

from aicc.recording.audio.decoder import AudioDecoder, AudioInfo, Readable, SeekableReadable
from aicc.recording.audio.encoder import AudioEncoder
from aicc.recording.audio.formats import (
    AudioFormat,
    UnsupportedAudio,
    check_encodable,
    parse_format,
    resolve_bitrate,
)

_LENGTH_IN_HEADER = frozenset({AudioFormat.WAV, AudioFormat.FLAC, AudioFormat.MP3})
SILENCE_CHUNK_FRAMES = 16384


class Transcoder:
    """Decode ``source`` and encode it as ``fmt``; iterate for the encoded chunks.

    The source is recognised when this is built (``AudioError`` if it is not audio the
    service takes); ``source_info`` describes it. The output keeps the source's sample rate
    and channel count unless ``sample_rate`` / ``channels`` say otherwise, and ``frames``
    ends as the exact number of sample frames encoded (the recording's duration is
    ``frames / sample_rate``).

    WAV, FLAC and MP3 state their length up front. Give ``total_frames`` when it is known (a
    download of a stored recording: the sample count in the database); the output then has
    exactly that many frames, cut or padded with silence (decoding a lossy file can give a
    few more, its codec's padding). Otherwise a seekable source is decoded once more first to
    count them, and a forward-only one is written as a stream of unknown length.
    Iterate once; stopping early (or ``close()``) releases the decoder and encoder.
    """

    def __init__(
        self,
        source: BinaryIO | Readable,
        fmt: AudioFormat | str,
        *,
        bitrate: int | None = None,
        sample_rate: int | None = None,
        channels: int | None = None,
        total_frames: int | None = None,
    ) -> None:
        self.format = parse_format(fmt)
        self._source = source
        self._requested = (sample_rate, channels)
        self._decoder = self._open()
        self.source_info: AudioInfo = self._decoder.info
        self.sample_rate = self._decoder.sample_rate
        self.channels = self._decoder.channels
        try:
            check_encodable(self.format, self.sample_rate, self.channels)
            self.bitrate = resolve_bitrate(self.format, self.sample_rate, self.channels, bitrate)
        except ValueError as exc:
            self._decoder.close()
            raise UnsupportedAudio(str(exc)) from exc
        self._fit_to_total = total_frames is not None
        if total_frames is None and self.format in _LENGTH_IN_HEADER:
            total_frames = self._count_frames()
        self.total_frames = total_frames
        self._encoder: AudioEncoder | None = None

    @property
    def decode_errors(self) -> int:
        """Damaged packets of the source skipped (see :class:`AudioDecoder`)."""
        return self._decoder.decode_errors

    @property
    def frames(self) -> int:
        """Sample frames encoded so far: the output's exact length once iteration ends."""
        return self._encoder.frames_in if self._encoder else 0

    def _open(self) -> AudioDecoder:
        sample_rate, channels = self._requested
        return AudioDecoder(self._source, sample_rate=sample_rate, channels=channels)

    def _count_frames(self) -> int | None:
        source = self._source
        if not (isinstance(source, SeekableReadable) and source.seekable()):
            return None
        with self._decoder:
            total = self._decoder.drain()
        self._decoder = self._open()
        return total

    def __iter__(self) -> Iterator[bytes]:
        frame_bytes = 2 * self.channels
        wanted = self.total_frames if self._fit_to_total else None
        self._encoder = encoder = AudioEncoder(
            self.format,
            sample_rate=self.sample_rate,
            channels=self.channels,
            bitrate=self.bitrate,
            total_frames=self.total_frames,
        )
        with self._decoder, encoder:
            for pcm in self._decoder:
                if wanted is not None:
                    pcm = pcm[: (wanted - encoder.frames_in) * frame_bytes]
                if encoded := encoder.encode(pcm):
                    yield encoded
                if wanted is not None and encoder.frames_in == wanted:
                    break
            if wanted is not None:
                silence = bytes(SILENCE_CHUNK_FRAMES * frame_bytes)
                while (missing := wanted - encoder.frames_in) > 0:
                    if encoded := encoder.encode(silence[: missing * frame_bytes]):
                        yield encoded
            if encoded := encoder.finish():
                yield encoded

    def close(self) -> None:
        self._decoder.close()

    def __enter__(self) -> Transcoder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
