"""Encoding interleaved PCM into WAV, FLAC, MP3 or AAC-in-M4A, as a stream of bytes.

The output is never seekable (it goes straight into an encrypting uploader), so:

- WAV: the 44-byte header is written here, then the PCM as it comes; no codec at all.
- FLAC: FFmpeg's encoder with 4096-sample blocks (its default at 8 kHz is 576: 1.45x the CPU
  for the same size within 1 %) behind a STREAMINFO written here with the sample count.
- MP3: LAME with plain left/right stereo at quality 7, behind a LAME Info tag written here
  with the frame count, encoder delay and padding, so decoders trim to the exact length.
  Quality 7 keeps LAME's psychoacoustic model (block switching) but skips its noise-shaping
  search: on synthetic two-party speech (8 kHz stereo, 64 kbps, one core) it runs at about
  290x real time, where quality 5 gives 210x and LAME's defaults (quality 3, joint stereo)
  165x, both short of the 240x target; per-band SNR is the same or better. Left/right rather
  than joint stereo suits two different speakers (mid/side gains little) and is 15-30 % faster.
- AAC: FFmpeg's native AAC-LC encoder in a fragmented M4A (``empty_moov+delay_moov``,
  2-second fragments). The moov holds no sample tables, so nothing needs rewriting; delaying it
  to the first fragment lets it carry the edit list that skips the encoder's 1,024 priming
  samples; the ``mfra`` index FFmpeg appends lets players seek without scanning.

Memory is bounded: one input chunk (encoded in slices of ``MAX_SLICE_FRAMES``), the codec's
own buffers and, for M4A, one fragment. No audio encoder in FFmpeg uses threads, so a long MP3
(over about two minutes) on a machine with several cores is encoded in segments by several
LAME encoders at once (:mod:`aicc.recording.audio.mp3_parallel`; the bit reservoir is off
there, so frames join without a seam).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from types import TracebackType

from aicc.recording.audio import mp3_parallel
from aicc.recording.audio.formats import (
    FORMAT_SPECS,
    AudioFormat,
    FormatSpec,
    InputEncoding,
    check_encodable,
    parse_format,
    parse_input_encoding,
    resolve_bitrate,
)
from aicc.recording.audio.mulaw import mulaw_to_pcm16
from aicc.recording.audio.writers import WRITERS, Bytes, ContainerWriter, OutputParams

MAX_SLICE_FRAMES = 1 << 16


class AudioEncoder:
    """Encode one recording: ``encode(chunk)`` as PCM arrives, then ``finish()`` once.

    Each call returns the container bytes that are ready (possibly none). Chunks may be of
    any size and may split a sample frame; ``input_encoding="mulaw"`` takes G.711 µ-law.
    With ``total_frames`` (known at finalize time) the headers state the exact length, and
    feeding more or fewer sample frames is a ``ValueError``. Without it WAV, FLAC and MP3 are
    written as streams of unknown length (see :mod:`aicc.recording.audio.headers`).
    """

    def __init__(
        self,
        fmt: AudioFormat | str,
        *,
        sample_rate: int,
        channels: int,
        bitrate: int | None = None,
        total_frames: int | None = None,
        input_encoding: InputEncoding | str = InputEncoding.PCM_S16LE,
    ) -> None:
        self.format = parse_format(fmt)
        check_encodable(self.format, sample_rate, channels)
        if total_frames is not None and total_frames < 0:
            raise ValueError("total_frames cannot be negative")
        self.sample_rate = sample_rate
        self.channels = channels
        self.bitrate = resolve_bitrate(self.format, sample_rate, channels, bitrate)
        self.total_frames = total_frames
        self.input_encoding = parse_input_encoding(input_encoding)
        self.frames_in = 0
        """Sample frames taken so far."""
        self._frame_bytes = channels * self.input_encoding.sample_bytes
        self._remainder = b""
        self._finished = False
        params = OutputParams(sample_rate, channels, self.bitrate, total_frames)
        self._writer: ContainerWriter
        if self.format is AudioFormat.MP3 and mp3_parallel.worth_it(params):
            self._writer = mp3_parallel.ParallelMp3Writer(params)
        else:
            self._writer = WRITERS[self.format](params)

    @property
    def segmented(self) -> bool:
        """Encoded in segments on several cores (a long MP3 on a multi-core machine)."""
        return isinstance(self._writer, mp3_parallel.ParallelMp3Writer)

    @property
    def spec(self) -> FormatSpec:
        """Codec, file extension and MIME type of what comes out."""
        return FORMAT_SPECS[self.format]

    def encode(self, data: Bytes) -> bytes:
        if self._finished:
            raise ValueError("the encoder has finished")
        if self._remainder:
            data = self._remainder + bytes(data)
        whole = len(data) - len(data) % self._frame_bytes
        self._remainder = bytes(data[whole:])
        frames = whole // self._frame_bytes
        if self.total_frames is not None and self.frames_in + frames > self.total_frames:
            raise ValueError(f"more than the {self.total_frames} sample frames announced")
        out: list[bytes] = []
        view = memoryview(data)
        step = MAX_SLICE_FRAMES * self._frame_bytes
        for start in range(0, whole, step):
            piece = view[start : min(start + step, whole)]
            count = len(piece) // self._frame_bytes
            pcm = mulaw_to_pcm16(piece) if self.input_encoding is InputEncoding.MULAW else piece
            out.extend(self._writer.write(pcm, count, self.frames_in))
            self.frames_in += count
        return b"".join(out)

    def finish(self) -> bytes:
        if self._finished:
            raise ValueError("the encoder has finished")
        self._finished = True
        if self._remainder:
            raise ValueError("the input ended inside a sample frame")
        if self.total_frames is not None and self.frames_in != self.total_frames:
            raise ValueError(f"{self.frames_in} sample frames given, {self.total_frames} announced")
        return b"".join(self._writer.finish())

    def close(self) -> None:
        """Release the codec; needed only when giving up before ``finish()``."""
        self._finished = True
        self._writer.close()

    def __enter__(self) -> AudioEncoder:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def encode_pcm(
    chunks: Iterable[Bytes],
    fmt: AudioFormat | str,
    *,
    sample_rate: int,
    channels: int,
    bitrate: int | None = None,
    total_frames: int | None = None,
    input_encoding: InputEncoding | str = InputEncoding.PCM_S16LE,
) -> Iterator[bytes]:
    """Encode PCM chunks into the container's chunks (none of them empty)."""
    with AudioEncoder(
        fmt,
        sample_rate=sample_rate,
        channels=channels,
        bitrate=bitrate,
        total_frames=total_frames,
        input_encoding=input_encoding,
    ) as encoder:
        for chunk in chunks:
            if encoded := encoder.encode(chunk):
                yield encoded
        if encoded := encoder.finish():
            yield encoded
