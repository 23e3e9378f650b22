"""Corrupted or tampered storage is detected and never returned as plaintext."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from aicc.core.storage import ObjectNotFound, ObjectStore
from aicc.recording.sealing import SEGMENT_SIZE, SealedObject, SealedObjectCorrupt, open_range
from tests.recording.test_sealing import (
    REF,
    data_key,
    opened,
    s3_store,
    store,
    store_sealed,
    stored_bytes,
)

__all__ = ["data_key", "s3_store", "store"]

HEADER = 37 + len(REF)
STRIDE = SEGMENT_SIZE + 16
PLAINTEXT_SIZE = 3 * SEGMENT_SIZE + 4321
PLAINTEXT = os.urandom(PLAINTEXT_SIZE)


def segment(stored: bytes, index: int) -> slice:
    return slice(HEADER + index * STRIDE, min(HEADER + (index + 1) * STRIDE, len(stored)))


def flip(position: int) -> Callable[[bytes], bytes]:
    def edit(stored: bytes) -> bytes:
        changed = bytearray(stored)
        changed[position if position >= 0 else len(stored) + position] ^= 0x10
        return bytes(changed)

    return edit


def swap_segments(first: int, second: int) -> Callable[[bytes], bytes]:
    def edit(stored: bytes) -> bytes:
        segments = [stored[segment(stored, index)] for index in range(4)]
        segments[first], segments[second] = segments[second], segments[first]
        return stored[:HEADER] + b"".join(segments)

    return edit


def drop_final_segment(stored: bytes) -> bytes:
    return stored[: segment(stored, 3).start]


async def tamper(store: ObjectStore, key: str, edit: Callable[[bytes], bytes]) -> None:
    await store.put(key, edit(await stored_bytes(store, key)))


async def corruption(
    store: ObjectStore,
    data_key: bytes,
    *,
    start: int = 0,
    end: int | None = None,
    ref: str = REF,
    plain_size: int = PLAINTEXT_SIZE,
) -> SealedObjectCorrupt:
    with pytest.raises(SealedObjectCorrupt) as raised:
        pieces = open_range(
            store,
            "rec/t",
            data_key=data_key,
            object_ref=ref,
            plain_size=plain_size,
            start=start,
            end=end,
        )
        async for _ in pieces:
            pass
    assert raised.value.key == "rec/t"
    return raised.value


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda stored: stored[:-1], "truncated"),
        (drop_final_segment, "truncated"),
        (lambda stored: stored[:HEADER], "truncated"),
        (lambda stored: stored[:20], "truncated"),
        (lambda _: b"", "truncated"),
        (lambda stored: stored + b"\0", "extended"),
        (lambda stored: stored + stored[segment(stored, 1)], "extended"),
        (swap_segments(0, 1), "tampered"),
        (swap_segments(2, 3), "tampered"),
        (flip(HEADER + 2 * STRIDE + 1000), "tampered"),
        (flip(-1), "tampered"),
    ],
    ids=[
        "drop-last-byte",
        "drop-final-segment",
        "header-only",
        "inside-header",
        "empty",
        "append-byte",
        "append-segment",
        "swap-0-1",
        "swap-2-final",
        "flip-segment-2",
        "flip-final-tag",
    ],
)
async def test_tampered_object_is_detected(
    store: ObjectStore, data_key: bytes, edit: Callable[[bytes], bytes], reason: str
) -> None:
    await store_sealed(store, "rec/t", PLAINTEXT, data_key)
    await tamper(store, "rec/t", edit)

    assert (await corruption(store, data_key)).reason == reason


@pytest.mark.parametrize(
    ("position", "reasons"),
    [
        (0, {"bad_header"}),
        (6, {"bad_header"}),
        (7, {"bad_header"}),
        (9, {"bad_header", "truncated", "extended", "tampered"}),
        (10, {"truncated", "extended", "tampered"}),
        (11, {"truncated", "extended", "tampered"}),
        (12, {"tampered"}),
        (27, {"tampered"}),
        (28, {"tampered"}),
        (34, {"tampered"}),
        (35, {"wrong_object"}),
        (36, {"wrong_object"}),
        (37, {"wrong_object"}),
        (HEADER - 1, {"wrong_object"}),
    ],
)
async def test_one_flipped_bit_in_the_header_is_detected(
    store: ObjectStore, data_key: bytes, position: int, reasons: set[str]
) -> None:
    await store_sealed(store, "rec/t", PLAINTEXT, data_key)
    await tamper(store, "rec/t", flip(position))

    assert (await corruption(store, data_key, start=0, end=0)).reason in reasons


@pytest.mark.parametrize(
    ("start", "end"), [(0, 0), (SEGMENT_SIZE, SEGMENT_SIZE + 5), (PLAINTEXT_SIZE - 1, None)]
)
async def test_size_change_is_detected_by_any_range(
    store: ObjectStore, data_key: bytes, start: int, end: int | None
) -> None:
    await store_sealed(store, "rec/t", PLAINTEXT, data_key)
    await tamper(store, "rec/t", drop_final_segment)

    assert (await corruption(store, data_key, start=start, end=end)).reason == "truncated"


async def test_a_size_recorded_wrongly_is_detected(store: ObjectStore, data_key: bytes) -> None:
    await store_sealed(store, "rec/t", PLAINTEXT, data_key)

    assert (await corruption(store, data_key, plain_size=PLAINTEXT_SIZE - 1)).reason == ("extended")
    assert (await corruption(store, data_key, plain_size=PLAINTEXT_SIZE + 1)).reason == (
        "truncated"
    )


async def test_flipped_bit_fails_only_ranges_that_touch_its_segment(
    store: ObjectStore, data_key: bytes
) -> None:
    await store_sealed(store, "rec/t", PLAINTEXT, data_key)
    await tamper(store, "rec/t", flip(HEADER + STRIDE + 5))

    assert (await corruption(store, data_key, start=SEGMENT_SIZE, end=SEGMENT_SIZE)).reason == (
        "tampered"
    )
    untouched = await opened(store, "rec/t", PLAINTEXT, data_key, start=2 * SEGMENT_SIZE)
    assert untouched == PLAINTEXT[2 * SEGMENT_SIZE :]


async def test_failure_after_some_bytes_raises_mid_iteration(
    store: ObjectStore, data_key: bytes
) -> None:
    await store_sealed(store, "rec/t", PLAINTEXT, data_key)
    await tamper(store, "rec/t", flip(-100))
    received: list[bytes] = []

    with pytest.raises(SealedObjectCorrupt) as raised:
        async for piece in open_range(
            store, "rec/t", data_key=data_key, object_ref=REF, plain_size=PLAINTEXT_SIZE
        ):
            received.append(piece)

    assert raised.value.reason == "tampered"
    assert b"".join(received) == PLAINTEXT[: 3 * SEGMENT_SIZE]


async def test_another_objects_ciphertext_is_a_swapped_object(
    store: ObjectStore, data_key: bytes
) -> None:
    other_ref = "recording:9a8b7c6d"
    assert len(other_ref) == len(REF)
    await store_sealed(store, "rec/other", PLAINTEXT, data_key, ref=other_ref)
    await store.put("rec/t", await stored_bytes(store, "rec/other"))

    assert (await corruption(store, data_key)).reason == "wrong_object"

    relabelled = (await stored_bytes(store, "rec/other")).replace(other_ref.encode(), REF.encode())
    await store.put("rec/t", relabelled)
    assert (await corruption(store, data_key)).reason == "tampered"


async def test_a_different_length_reference_is_a_swapped_object(
    store: ObjectStore, data_key: bytes
) -> None:
    await store_sealed(store, "rec/t", PLAINTEXT, data_key, ref="recording:1")

    assert (await corruption(store, data_key, ref="recording:12")).reason == "wrong_object"
    assert (await corruption(store, data_key, ref="recording:")).reason == "wrong_object"


async def test_wrong_data_key_is_detected(store: ObjectStore, data_key: bytes) -> None:
    await store_sealed(store, "rec/t", PLAINTEXT, data_key)

    assert (await corruption(store, os.urandom(32))).reason == "tampered"


async def test_not_a_sealed_object(store: ObjectStore, data_key: bytes) -> None:
    await store.put("rec/t", PLAINTEXT)

    assert (await corruption(store, data_key)).reason == "bad_header"


async def test_empty_plaintext_is_verified_too(store: ObjectStore, data_key: bytes) -> None:
    await store_sealed(store, "rec/t", b"", data_key)
    await tamper(store, "rec/t", flip(-1))

    assert (await corruption(store, data_key, plain_size=0)).reason == "tampered"


async def test_missing_object_is_not_found(store: ObjectStore, data_key: bytes) -> None:
    with pytest.raises(ObjectNotFound):
        await SealedObject.open(store, "rec/none", data_key=data_key, object_ref=REF, plain_size=1)


async def test_object_replaced_while_reading_is_detected(
    store: ObjectStore, data_key: bytes
) -> None:
    await store_sealed(store, "rec/t", PLAINTEXT, data_key)
    sealed = await SealedObject.open(
        store, "rec/t", data_key=data_key, object_ref=REF, plain_size=PLAINTEXT_SIZE
    )
    await store_sealed(store, "rec/t", PLAINTEXT, data_key)

    with pytest.raises(SealedObjectCorrupt) as raised:
        await sealed.read_segments(0, 0)
    assert raised.value.reason == "tampered"

    await store.put("rec/t", (await stored_bytes(store, "rec/t"))[:-1])
    with pytest.raises(SealedObjectCorrupt) as raised:
        await sealed.read_segments(0, 0)
    assert raised.value.reason == "truncated"


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda stored: stored[:-1], "truncated"),
        (swap_segments(0, 1), "tampered"),
        (flip(HEADER + 100), "tampered"),
    ],
    ids=["truncate", "swap", "flip"],
)
async def test_tampering_on_s3(
    s3_store: ObjectStore, data_key: bytes, edit: Callable[[bytes], bytes], reason: str
) -> None:
    await store_sealed(s3_store, "rec/t", PLAINTEXT, data_key)
    await tamper(s3_store, "rec/t", edit)

    assert (await corruption(s3_store, data_key)).reason == reason


async def test_every_bit_of_the_header_is_protected(store: ObjectStore, data_key: bytes) -> None:
    plaintext = os.urandom(150)
    await store_sealed(store, "rec/small", plaintext, data_key, segment_size=64)
    original = await stored_bytes(store, "rec/small")

    for position in range(HEADER):
        for bit in range(8):
            changed = bytearray(original)
            changed[position] ^= 1 << bit
            await store.put("rec/small", bytes(changed))
            with pytest.raises(SealedObjectCorrupt):
                await opened(store, "rec/small", plaintext, data_key, start=149)
