"""G.711 µ-law to 16-bit linear PCM, without audioop (deprecated, gone in Python 3.13).

Each µ-law byte maps to one 16-bit sample, so two 256-entry ``bytes.translate`` tables (low and
high byte of the sample) and two extended-slice assignments decode a buffer entirely in C:
about 250 MB of µ-law per second here, 0.25 s for an hour of 8 kHz stereo. (PyAV's
``pcm_mulaw`` decoder is about four times faster still but needs a codec context per call;
either is negligible next to encoding.) Channels need no special care: interleaved µ-law
decodes to interleaved PCM.
"""

from __future__ import annotations

from functools import cache


def mulaw_sample(code: int) -> int:
    """The linear value of one µ-law code (ITU-T G.711), from -32124 to 32124."""
    inverted = ~code & 0xFF
    magnitude = (((inverted & 0x0F) << 3) + 0x84) << ((inverted & 0x70) >> 4)
    return 0x84 - magnitude if inverted & 0x80 else magnitude - 0x84


@cache
def _byte_tables() -> tuple[bytes, bytes]:
    samples = [mulaw_sample(code) & 0xFFFF for code in range(256)]
    return bytes(s & 0xFF for s in samples), bytes(s >> 8 for s in samples)


def mulaw_to_pcm16(data: bytes | bytearray | memoryview) -> bytes:
    """Decode G.711 µ-law bytes to signed 16-bit little-endian PCM (twice the length)."""
    low, high = _byte_tables()
    source = bytes(data)
    pcm = bytearray(2 * len(source))
    pcm[0::2] = source.translate(low)
    pcm[1::2] = source.translate(high)
    return bytes(pcm)
