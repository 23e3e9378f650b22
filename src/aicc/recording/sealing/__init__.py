"""The recording service's encrypted object format: chunked AEAD in the STREAM construction.

Every recording and transcript is stored sealed under its own 32-byte data key
(``aicc.core.keys``). The stored object is::

    header   = "AICCREC" (7) ‖ version 0x01 (1) ‖ segment size, BE32 (4, 65536)
               ‖ salt (16, random) ‖ nonce prefix (7, random)
               ‖ object reference length, BE16 (2) ‖ object reference (UTF-8, ≤ 1024 bytes,
               e.g. "recording:<id>")
    segment_0 ‖ … ‖ segment_{n-1}

- Segment key = HKDF-SHA256(ikm=data key, salt=salt, info="aicc-recording-segments"), 32 bytes.
- Segment ``i`` = AES-256-GCM(segment key, nonce = prefix ‖ BE32(i) ‖ last, associated data =
  the whole header) of plaintext bytes ``i*S .. (i+1)*S - 1``, where ``S`` is the segment size
  and ``last`` is 0x01 for the final segment, else 0x00. Every segment holds exactly ``S``
  plaintext bytes except the final one; an empty plaintext is one final empty segment
  (16 bytes, the tag alone). So ``n = max(1, ceil(size / S))``, segment ``i`` starts at
  ``len(header) + i*(S + 16)``, and the stored size is ``len(header) + size + 16*n``.

Whoever opens an object knows the plaintext size (kept in the database) and the object
reference. Opening checks the header (magic, version: ``bad_header``; object reference:
``wrong_object``, a swapped object), the stored size against the plaintext size (``truncated``
/ ``extended``, detected even by ranges that do not touch the final segment), and the tag of
every segment it reads (``tampered``: modified or reordered segments, a modified header, a
wrong key). The last flag in the nonce stops a final segment being dropped or moved. A byte
range is decrypted by fetching only the segments it overlaps.

Use:

- Finalizing: ``sealing = seal(chunks, data_key, ref)``; ``await store.put(key, sealing)``;
  then record ``sealing.plain_size`` and ``sealing.sha256``.
- Download: ``open_range(store, key, data_key=…, object_ref=…, plain_size=…, start=…,
  end=…)``, or ``SealedObject.open(…)`` first to fail before a response starts, then
  ``iter_range``.
- Decoding in a thread: ``file = await open_sealed_file(…)`` in the event loop, then
  ``await anyio.to_thread.run_sync(decode, file)``.
"""

from aicc.recording.sealing.file import SealedFile, open_sealed_file
from aicc.recording.sealing.layout import (
    MAX_OBJECT_REF_BYTES,
    SEGMENT_SIZE,
    CorruptionReason,
    Header,
    SealedObjectCorrupt,
    header_length,
    sealed_size,
    segment_count,
)
from aicc.recording.sealing.opener import SealedObject, open_range, resolve_range
from aicc.recording.sealing.sealer import SealingStream, seal

__all__ = [
    "MAX_OBJECT_REF_BYTES",
    "SEGMENT_SIZE",
    "CorruptionReason",
    "Header",
    "SealedFile",
    "SealedObject",
    "SealedObjectCorrupt",
    "SealingStream",
    "header_length",
    "open_range",
    "open_sealed_file",
    "resolve_range",
    "seal",
    "sealed_size",
    "segment_count",
]
