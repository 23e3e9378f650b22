"""MP3 encoding of a long recording on several cores at once.

LAME's frames are tied to fixed positions of the input: frame ``k`` always covers the same
samples, so a recording can be cut into segments at frame boundaries and each segment encoded
by its own LAME in a thread (PyAV releases the GIL while the codec works). Each encoder starts
``PRE_ROLL_FRAMES`` frames early so its filterbank and psychoacoustic state have settled when
its first kept frame begins, and reads ``POST_ROLL_FRAMES`` past its end so its last kept frame
sees the same look-ahead a single encoder would; only the frames of its own segment are kept.
The bit reservoir is off, so every frame stands alone and segments join bit-exactly as frames;
the result has exactly the frame count a single LAME writes, behind the same Info tag.

Memory stays bounded: at most ``workers + 1`` segments (about 0.7 MB each at 8 kHz stereo) wait.
"""

from __future__ import annotations

import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from fractions import Fraction

import av
from av.audio.codeccontext import AudioCodecContext

from aicc.recording.audio.formats import channel_layout
from aicc.recording.audio.headers import MpegHeader
from aicc.recording.audio.writers import (
    MP3_LAME_QUALITY,
    AudioPacket,
    Bytes,
    ContainerWriter,
    OutputParams,
    mp3_info_tag,
    s16_frame,
)

SAMPLES_PER_FRAME = 576
"""MPEG-2 and 2.5 Layer III (16 and 8 kHz): samples per frame and channel."""
SEGMENT_FRAMES = 300
"""MP3 frames per segment: 21.6 s at 8 kHz (about 700 KB of stereo PCM)."""
PRE_ROLL_FRAMES = 4
POST_ROLL_FRAMES = 4
SLICE_FRAMES = 1 << 15


def worth_it(params: OutputParams) -> bool:
    """Several cores, a known length and at least three segments (shorter calls finish in a
    blink on one core)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return (
        (cores or 1) > 1
        and params.total_frames is not None
        and params.sample_rate <= 24000
        and params.total_frames >= 3 * SEGMENT_FRAMES * SAMPLES_PER_FRAME
    )


@dataclass(frozen=True)
class _Encoded:
    frames: list[bytes]
    first_pts: int | None


def _encode_segment(
    pcm: bytes, params: OutputParams, frame_bytes: int, skip: int, keep: int | None
) -> _Encoded:
    """Encode ``pcm`` (from a frame boundary) and keep ``keep`` frames after ``skip``
    (all the rest when ``keep`` is None)."""
    context = av.CodecContext.create("libmp3lame", "w")
    assert isinstance(context, AudioCodecContext)
    context.sample_rate = params.sample_rate
    context.layout = channel_layout(params.channels)
    context.format = "s16p"
    context.time_base = Fraction(1, params.sample_rate)
    if params.bitrate:
        context.bit_rate = params.bitrate
    context.options = {
        "compression_level": str(MP3_LAME_QUALITY),
        "joint_stereo": "0",
        "reservoir": "0",
    }
    context.open()
    packets: list[AudioPacket] = []
    step = SLICE_FRAMES * frame_bytes
    for start in range(0, len(pcm), step):
        piece = pcm[start : start + step]
        frames = len(piece) // frame_bytes
        frame = s16_frame(piece, frames, params.channels, params.sample_rate, start // frame_bytes)
        packets.extend(p for p in context.encode(frame) if p.size)
    packets.extend(p for p in context.encode(None) if p.size)
    first_pts = packets[0].pts if packets else None
    kept = packets[skip:] if keep is None else packets[skip : skip + keep]
    return _Encoded([bytes(p) for p in kept], first_pts)


class ParallelMp3Writer(ContainerWriter):
    """Interleaved s16 PCM in, the same MP3 stream :class:`Mp3Writer` writes out (with the
    bit reservoir off), encoded segment by segment on a pool of threads."""

    def __init__(self, params: OutputParams, workers: int | None = None) -> None:
        super().__init__(params)
        self.frame_bytes = 2 * params.channels
        self.segment_samples = SEGMENT_FRAMES * SAMPLES_PER_FRAME
        self.pre = PRE_ROLL_FRAMES * SAMPLES_PER_FRAME * self.frame_bytes
        self.post = POST_ROLL_FRAMES * SAMPLES_PER_FRAME * self.frame_bytes
        cores = workers or min(4, len(os.sched_getaffinity(0)))
        self.pool = ThreadPoolExecutor(max_workers=cores, thread_name_prefix="aicc-mp3")
        self.pending: deque[Future[_Encoded]] = deque()
        self.limit = cores + 1
        self.buffer = bytearray()
        """Input from ``self.offset`` (in bytes) onwards, pre-roll included."""
        self.offset = 0
        self.next_segment = 0
        """Byte position where the next segment to submit begins."""
        self.header_done = False
        self.packets = 0
        self.closed = False

    def write(self, pcm: Bytes, frames: int, first_frame: int) -> list[bytes]:  # noqa: ARG002
        self.buffer += pcm
        segment = self.segment_samples * self.frame_bytes
        while self.offset + len(self.buffer) >= self.next_segment + segment + self.post:
            self._submit(self.next_segment + segment + self.post, keep=SEGMENT_FRAMES)
            self.next_segment += segment
            self._trim()
        return self._ready(block=len(self.pending) >= self.limit)

    def finish(self) -> list[bytes]:
        self._submit(self.offset + len(self.buffer), keep=None)
        self.buffer.clear()
        out: list[bytes] = []
        while self.pending:
            out.extend(self._ready(block=True))
        self.close()
        return out

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            for future in self.pending:
                future.cancel()
            self.pool.shutdown(wait=True)

    def _submit(self, end: int, *, keep: int | None) -> None:
        start = max(0, self.next_segment - self.pre)
        pcm = bytes(self.buffer[start - self.offset : end - self.offset])
        skip = (self.next_segment - start) // (SAMPLES_PER_FRAME * self.frame_bytes)
        self.pending.append(
            self.pool.submit(_encode_segment, pcm, self.params, self.frame_bytes, skip, keep)
        )

    def _trim(self) -> None:
        """Drop input no later segment needs (everything before its pre-roll)."""
        keep_from = max(0, self.next_segment - self.pre)
        del self.buffer[: keep_from - self.offset]
        self.offset = keep_from

    def _ready(self, *, block: bool) -> list[bytes]:
        out: list[bytes] = []
        while self.pending and (block or self.pending[0].done()):
            encoded = self.pending.popleft().result()
            block = False
            if not self.header_done:
                self.header_done = True
                out.extend(self._header(encoded))
            out.extend(encoded.frames)
            self.packets += len(encoded.frames)
        return out

    def _header(self, first: _Encoded) -> list[bytes]:
        """The Info tag :class:`Mp3Writer` writes, from the first segment's first frame."""
        assert self.params.total_frames is not None
        if not first.frames:
            return []
        stream = MpegHeader.parse(first.frames[0])
        return [mp3_info_tag(stream, first.first_pts, self.params.total_frames)]
