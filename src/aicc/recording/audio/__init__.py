"""The recording service's audio pipeline: encoding live calls, reading and transcoding files.

Everything here is synchronous and CPU-bound: call it from worker threads
(``anyio.to_thread.run_sync``). Nothing touches the disk; encoded bytes come back in chunks
for the encrypting uploader, and memory stays bounded however long the call.

- Finalize: ``AudioEncoder(fmt, sample_rate=, channels=, bitrate=, total_frames=,
  input_encoding=)``, then ``encode(chunk)`` per spool chunk and ``finish()``; or
  ``encode_pcm(chunks, ...)``.
- Import: ``probe_audio(reader)`` / ``AudioDecoder(reader)`` recognise a file (or raise an
  ``AudioError``: answer 422 with its ``code``) and decode it to s16le PCM chunks;
  ``Transcoder(reader, fmt)`` re-encodes it, counting the sample frames.
- Download in another format: ``Transcoder(reader, fmt, total_frames=stored_sample_count)``.
"""

from aicc.recording.audio.decoder import AudioDecoder, AudioInfo, probe_audio, sniff_container
from aicc.recording.audio.encoder import AudioEncoder, encode_pcm
from aicc.recording.audio.formats import (
    CHANNEL_COUNTS,
    DEFAULT_BITRATE_PER_CHANNEL,
    FORMAT_SPECS,
    INPUT_ENCODINGS,
    SAMPLE_RATES,
    AudioError,
    AudioFormat,
    CorruptAudio,
    FormatSpec,
    InputEncoding,
    NotAudio,
    UnsupportedAudio,
    allowed_bitrates,
    check_capture,
    check_encodable,
    default_bitrate,
    parse_format,
    parse_input_encoding,
    resolve_bitrate,
)
from aicc.recording.audio.mulaw import mulaw_to_pcm16
from aicc.recording.audio.transcode import Transcoder

__all__ = [
    "CHANNEL_COUNTS",
    "DEFAULT_BITRATE_PER_CHANNEL",
    "FORMAT_SPECS",
    "INPUT_ENCODINGS",
    "SAMPLE_RATES",
    "AudioDecoder",
    "AudioEncoder",
    "AudioError",
    "AudioFormat",
    "AudioInfo",
    "CorruptAudio",
    "FormatSpec",
    "InputEncoding",
    "NotAudio",
    "Transcoder",
    "UnsupportedAudio",
    "allowed_bitrates",
    "check_capture",
    "check_encodable",
    "default_bitrate",
    "encode_pcm",
    "mulaw_to_pcm16",
    "parse_format",
    "parse_input_encoding",
    "probe_audio",
    "resolve_bitrate",
    "sniff_container",
]
