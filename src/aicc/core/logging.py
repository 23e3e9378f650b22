"""JSON logs in the spec's shape: timestamp, level, service, message, metadata (+ request_id).

Pass structured fields with ``logger.info("...", extra={"metadata": {...}})``. Never log
secrets or personal data: values whose key looks secret are masked as a last line of defence.
"""

from __future__ import annotations

import logging
import sys
import traceback
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

request_id_var: ContextVar[str | None] = ContextVar("aicc_request_id", default=None)
service_var: ContextVar[str | None] = ContextVar("aicc_service", default=None)

_SECRET_HINTS = ("password", "secret", "token", "authorization", "cookie", "key")


def _scrub(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: "***" if any(h in str(k).lower() for h in _SECRET_HINTS) else _scrub(v)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [_scrub(v) for v in value]
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        service = (
            getattr(record, "service", None)
            or service_var.get()
            or _service_from_logger(record.name)
        )
        entry: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC)
            .isoformat(timespec="milliseconds")
            .replace("+00:00", "Z"),
            "level": record.levelname,
            "service": service,
            "message": record.getMessage(),
            "metadata": _scrub(getattr(record, "metadata", None) or {}),
        }
        request_id = getattr(record, "request_id", None) or request_id_var.get()
        if request_id:
            entry["request_id"] = request_id
        if record.exc_info and record.exc_info[0] is not None:
            entry["metadata"]["exception"] = "".join(
                traceback.format_exception(*record.exc_info)
            ).rstrip()
        return orjson.dumps(entry, default=str).decode()


def _service_from_logger(name: str) -> str:
    parts = name.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "aicc" else "aicc"


def configure_logging(level: str = "INFO") -> None:
    """Send every log record to stderr as one JSON line; silence uvicorn's own access log."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if isinstance(old.formatter, JsonFormatter):
            root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers.clear()
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.error").setLevel(max(logging.WARNING, root.level))
    for noisy in (
        "botocore",
        "aiobotocore",
        "asyncio",
        "alembic.runtime.migration",
        "httpx2",
        "httpcore2",
    ):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
