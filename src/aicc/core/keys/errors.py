"""What can go wrong with a data key, each with its own machine-readable code."""

from __future__ import annotations

from typing import ClassVar

from aicc.core.errors import AppError, Conflict, NotFound


class DataKeyNotFound(NotFound):
    code = "data_key_not_found"

    def __init__(self, object_ref: str) -> None:
        super().__init__(f"no data key for object {object_ref!r}")
        self.object_ref = object_ref


class DataKeyExists(Conflict):
    code = "data_key_exists"

    def __init__(self, object_ref: str) -> None:
        super().__init__(f"object {object_ref!r} already has a data key")
        self.object_ref = object_ref


class DataKeyDestroyed(AppError):
    """The key was destroyed (crypto-shredding): the object's payload can never be read again."""

    status_code: ClassVar[int] = 410
    code = "data_key_destroyed"

    def __init__(self, object_ref: str) -> None:
        super().__init__(
            f"the data key of object {object_ref!r} was destroyed; its content is unrecoverable"
        )
        self.object_ref = object_ref


class DataKeyCorrupt(AppError):
    """The wrapped key does not open: altered, or copied from another object's row."""

    code = "data_key_corrupt"

    def __init__(self, object_ref: str, kek_id: str) -> None:
        super().__init__(
            f"the data key of object {object_ref!r} does not open under key-encryption key "
            f"{kek_id}: it was altered or belongs to another object"
        )
        self.object_ref = object_ref
        self.kek_id = kek_id


class KekUnavailable(AppError):
    """The key-encryption key that wrapped a data key is not configured or not usable."""

    code = "kek_unavailable"

    def __init__(self, kek_id: str, fix: str) -> None:
        super().__init__(f"key-encryption key {kek_id} is not available: {fix}")
        self.kek_id = kek_id
