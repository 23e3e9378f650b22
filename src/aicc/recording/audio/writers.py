"""The four containers, each written to an output that can never seek back.

See :mod:`aicc.recording.audio.encoder` for the choices made per format.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction
from typing import TypeAlias, cast

import av
from av.audio.codeccontext import AudioCodecContext
from av.audio.stream import AudioStream
from av.packet import Packet

from aicc.recording.audio.formats import AudioFormat, channel_layout
from aicc.recording.audio.headers import (
    MP3_DECODER_DELAY,
    MpegHeader,
    flac_stream_header,
    lame_frame_count,
    lame_info_frame,
    wav_header,
)

logger = logging.getLogger(__name__)

FLAC_BLOCK_FRAMES = 4096
MP3_LAME_QUALITY = 7
M4A_FRAGMENT_MICROSECONDS = 2_000_000
M4A_MOVFLAGS = "empty_moov+delay_moov+default_base_moof"

Bytes: TypeAlias = bytes | bytearray | memoryview
AudioPacket: TypeAlias = "Packet[AudioStream]"


@dataclass(frozen=True, slots=True)
class OutputParams:
    sample_rate: int
    channels: int
    bitrate: int | None
    total_frames: int | None


def s16_frame(pcm: Bytes, frames: int, channels: int, rate: int, pts: int) -> av.AudioFrame:
    """A PyAV frame of interleaved s16 samples holding a copy of ``pcm``."""
    frame = av.AudioFrame(format="s16", layout=channel_layout(channels), samples=frames)
    frame.planes[0].update(cast(bytes, pcm))  # any buffer works; the stub says bytes
    frame.sample_rate = rate
    frame.pts = pts
    frame.time_base = Fraction(1, rate)
    return frame


class ContainerWriter:
    """Interleaved s16le PCM in, container bytes out; ``first_frame`` numbers ``pcm``'s first
    sample frame from the start of the recording."""

    def __init__(self, params: OutputParams) -> None:
        self.params = params

    def write(self, pcm: Bytes, frames: int, first_frame: int) -> list[bytes]:
        raise NotImplementedError

    def finish(self) -> list[bytes]:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def frame(self, pcm: Bytes, frames: int, first_frame: int) -> av.AudioFrame:
        p = self.params
        return s16_frame(pcm, frames, p.channels, p.sample_rate, first_frame)


class WavWriter(ContainerWriter):
    def __init__(self, params: OutputParams) -> None:
        super().__init__(params)
        self._header: bytes | None = wav_header(
            params.sample_rate, params.channels, params.total_frames
        )

    def write(self, pcm: Bytes, frames: int, first_frame: int) -> list[bytes]:  # noqa: ARG002
        return [*self._take_header(), bytes(pcm)]

    def finish(self) -> list[bytes]:
        return self._take_header()

    def _take_header(self) -> list[bytes]:
        header, self._header = self._header, None
        return [header] if header is not None else []


class CodecWriter(ContainerWriter):
    """FLAC and MP3: a bare encoder whose packets are the container's frames, after a header."""

    codec = ""
    sample_format = "s16"

    def __init__(self, params: OutputParams) -> None:
        super().__init__(params)
        context = av.CodecContext.create(self.codec, "w")
        assert isinstance(context, AudioCodecContext)
        context.sample_rate = params.sample_rate
        context.layout = channel_layout(params.channels)
        context.format = self.sample_format
        context.time_base = Fraction(1, params.sample_rate)
        if params.bitrate:
            context.bit_rate = params.bitrate
        context.options = self.options()
        context.open()
        self.context = context
        self.started = False
        self.packets = 0

    def options(self) -> dict[str, str]:
        return {}

    def header(self, first: AudioPacket | None) -> list[bytes]:
        """What goes before the first packet (``first`` is ``None`` if there is none)."""
        raise NotImplementedError

    def write(self, pcm: Bytes, frames: int, first_frame: int) -> list[bytes]:
        frame = self.frame(pcm, frames, first_frame)
        return self._emit(self.context.encode(frame), final=False)

    def finish(self) -> list[bytes]:
        return self._emit(self.context.encode(None), final=True)

    def _emit(self, packets: list[AudioPacket], *, final: bool) -> list[bytes]:
        packets = [p for p in packets if p.size]
        out = [bytes(p) for p in packets]
        self.packets += len(out)
        if not self.started and (out or final):
            self.started = True
            out[:0] = self.header(packets[0] if packets else None)
        return out


class FlacWriter(CodecWriter):
    codec = "flac"

    def options(self) -> dict[str, str]:
        return {"frame_size": str(FLAC_BLOCK_FRAMES)}

    def header(self, first: AudioPacket | None) -> list[bytes]:  # noqa: ARG002
        streaminfo = self.context.extradata
        assert streaminfo is not None
        return [flac_stream_header(streaminfo, self.params.total_frames)]


def mp3_info_tag(stream: MpegHeader, first_pts: int | None, total_frames: int) -> bytes:
    """The LAME Info tag for ``total_frames`` samples whose first frame is ``stream`` with
    presentation time ``first_pts`` (negative: LAME's delay)."""
    delay = -first_pts - MP3_DECODER_DELAY if first_pts is not None else 576
    frames = lame_frame_count(total_frames, stream.samples_per_frame)
    return lame_info_frame(
        stream,
        frames=frames,
        audio_bytes=frames * stream.frame_bytes if stream.constant_frame_bytes else None,
        encoder_delay=delay,
        end_padding=frames * stream.samples_per_frame - delay - total_frames,
    )


class Mp3Writer(CodecWriter):
    codec = "libmp3lame"
    sample_format = "s16p"

    def __init__(self, params: OutputParams) -> None:
        super().__init__(params)
        self.announced_packets: int | None = None

    def options(self) -> dict[str, str]:
        return {"compression_level": str(MP3_LAME_QUALITY), "joint_stereo": "0"}

    def header(self, first: AudioPacket | None) -> list[bytes]:
        e = self.params
        assert e.bitrate is not None
        if first is None:
            return self._empty_stream(MpegHeader.for_stream(e.sample_rate, e.channels, e.bitrate))
        if e.total_frames is None:
            return []
        stream = MpegHeader.parse(bytes(first))
        self.announced_packets = lame_frame_count(e.total_frames, stream.samples_per_frame)
        return [mp3_info_tag(stream, first.pts, e.total_frames)]

    def finish(self) -> list[bytes]:
        out = super().finish()
        if self.announced_packets not in (None, self.packets):
            logger.warning(
                "the MP3 Info tag announced %s frames but LAME wrote %d",
                self.announced_packets,
                self.packets,
            )
        return out

    @staticmethod
    def _empty_stream(stream: MpegHeader) -> list[bytes]:
        """No audio: an Info tag over two silent frames that decoders trim away entirely
        (FFmpeg refuses an MP3 with fewer than two audio frames)."""
        silent = stream.silent_frame()
        spf = stream.samples_per_frame
        info = lame_info_frame(
            stream, frames=2, audio_bytes=2 * len(silent), encoder_delay=0, end_padding=2 * spf
        )
        return [info, silent, silent]


class Sink:
    """A write-only file for PyAV: without ``seek`` and ``tell`` muxers treat it as a stream."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: Bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def take(self) -> list[bytes]:
        parts, self.parts = self.parts, []
        return parts


class M4aWriter(ContainerWriter):
    def __init__(self, params: OutputParams) -> None:
        super().__init__(params)
        self.sink = Sink()
        self.container = av.open(
            self.sink,
            mode="w",
            format="ipod",
            options={"movflags": M4A_MOVFLAGS, "frag_duration": str(M4A_FRAGMENT_MICROSECONDS)},
        )
        self.stream = self.container.add_stream(
            "aac", rate=params.sample_rate, layout=channel_layout(params.channels)
        )
        self.stream.bit_rate = params.bitrate or 0
        self.container.start_encoding()
        self.closed = False

    def write(self, pcm: Bytes, frames: int, first_frame: int) -> list[bytes]:
        self.container.mux(self.stream.encode(self.frame(pcm, frames, first_frame)))
        return self.sink.take()

    def finish(self) -> list[bytes]:
        self.container.mux(self.stream.encode(None))
        self.close()
        return self.sink.take()

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.container.close()


WRITERS: dict[AudioFormat, type[ContainerWriter]] = {
    AudioFormat.WAV: WavWriter,
    AudioFormat.FLAC: FlacWriter,
    AudioFormat.MP3: Mp3Writer,
    AudioFormat.AAC: M4aWriter,
}
