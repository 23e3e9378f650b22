"""HTTP/1.1 keep-alive load generator on raw asyncio streams (uvloop when importable).

N connections each send requests back-to-back for a fixed duration after a warm-up. A
connection either repeats one pre-encoded request (fast path) or runs a *scenario*: a factory
called once per connection that returns an async step ``step(previous) -> Request``, where
``previous`` is the last parsed ``Response`` on that connection (``None`` for the first request
and after a socket error), so stateful flows (chained refresh tokens) work.

    python bench/loadgen.py http://127.0.0.1:8000/health -c 32 -d 10 --cpu 0
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

_CONTENT_LENGTH = re.compile(rb"\r\ncontent-length:[ \t]*(\d+)", re.IGNORECASE)
_CHUNKED = re.compile(rb"\r\ntransfer-encoding:[^\r]*chunked", re.IGNORECASE)
_CLOSE = re.compile(rb"\r\nconnection:[ \t]*close", re.IGNORECASE)
_STREAM_LIMIT = 1 << 20


@dataclass(frozen=True, slots=True)
class Request:
    method: str = "GET"
    path: str = "/"
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def encode(self, host: str) -> bytes:
        lines = [f"{self.method} {self.path} HTTP/1.1"]
        names = {name.lower() for name in self.headers}
        if "host" not in names:
            lines.append(f"Host: {host}")
        lines += [f"{name}: {value}" for name, value in self.headers.items()]
        if "content-length" not in names and (self.body or self.method in ("POST", "PUT", "PATCH")):
            lines.append(f"Content-Length: {len(self.body)}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + self.body


@dataclass(slots=True)
class Response:
    status: int
    headers: dict[str, str]
    """Lower-case names; repeated headers joined with ``", "``."""
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Step = Callable[[Response | None], Awaitable[Request]]
Scenario = Callable[[int], Step]
Hook = Callable[[], object]


def _parse_headers(head: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if not sep:
            continue
        key = name.strip().lower().decode("latin-1")
        text = value.strip().decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    return headers


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";", 1)[0], 16)
        if size == 0:
            while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
                pass
            return b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])


async def read_response(
    reader: asyncio.StreamReader, *, head_request: bool = False
) -> tuple[int, bytes, bytes, bool]:
    """Read one response: (status, raw header block, body, keep-alive)."""
    while True:
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        if status >= 200 or status == 101:
            break  # skip 1xx interim responses
    keep = not (_CLOSE.search(head) or head.startswith(b"HTTP/1.0"))
    if head_request or status in (204, 304):
        return status, head, b"", keep
    match = _CONTENT_LENGTH.search(head)
    if match:
        return status, head, await reader.readexactly(int(match.group(1))), keep
    if _CHUNKED.search(head):
        return status, head, await _read_chunked(reader), keep
    return status, head, await reader.read(), False  # delimited by close


class _Stats:
    def __init__(self) -> None:
        self.window_start = float("inf")
        self.latencies: list[float] = []
        self.status: Counter[int] = Counter()
        self.socket_errors: Counter[str] = Counter()

    def record(self, status: int, started: float, finished: float) -> None:
        if finished >= self.window_start:
            self.latencies.append(finished - started)
            self.status[status] += 1

    def error(self, kind: str) -> None:
        if time.perf_counter() >= self.window_start:
            self.socket_errors[kind] += 1


async def _connection(
    host: str,
    port: int,
    host_header: str,
    stats: _Stats,
    const: bytes | None,
    step: Step | None,
    head_request: bool,
    timeout: float | None,
) -> None:
    previous: Response | None = None
    while True:
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=_STREAM_LIMIT)
        except OSError:
            stats.error("connect")
            await asyncio.sleep(0.05)
            continue
        try:
            while True:
                if step is not None:
                    request = await step(previous)
                    data, head_request = request.encode(host_header), request.method == "HEAD"
                else:
                    data = const or b""
                started = time.perf_counter()
                writer.write(data)
                if writer.transport.get_write_buffer_size() > 65536:
                    await writer.drain()
                reading = read_response(reader, head_request=head_request)
                if timeout is not None:
                    reading = asyncio.wait_for(reading, timeout)
                status, head, body, keep = await reading
                stats.record(status, started, time.perf_counter())
                if step is not None:
                    previous = Response(status, _parse_headers(head), body)
                if not keep:
                    break
        except TimeoutError:
            stats.error("timeout")
            previous = None
        except (OSError, EOFError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            stats.error("read")
            previous = None
        except ValueError:
            stats.error("parse")
            previous = None
        finally:
            writer.close()


def _percentile(ordered: list[float], pct: float) -> float | None:
    if not ordered:
        return None
    index = min(len(ordered) - 1, max(0, math.ceil(pct / 100 * len(ordered)) - 1))  # nearest rank
    return round(ordered[index] * 1000, 3)


async def run_load(
    url: str,
    *,
    request: Request | None = None,
    scenario: Scenario | None = None,
    connections: int = 32,
    duration: float = 10.0,
    warmup: float = 2.0,
    timeout: float | None = None,
    on_start: Iterable[Hook] = (),
    on_stop: Iterable[Hook] = (),
) -> dict[str, Any]:
    """Run the load against ``url`` (scheme://host:port; its path is the default request's).

    ``on_start``/``on_stop`` hooks run right at the edges of the measured window (e.g. to
    snapshot server CPU). Only responses completed inside the window are counted.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    host_header = parts.netloc
    if scenario is None and request is None:
        request = Request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""))
    const = request.encode(host_header) if request is not None else None
    head = request is not None and request.method == "HEAD"
    stats = _Stats()
    tasks = [
        asyncio.create_task(
            _connection(
                host,
                port,
                host_header,
                stats,
                const,
                scenario(i) if scenario else None,
                head,
                timeout,
            )
        )
        for i in range(connections)
    ]
    try:
        await asyncio.sleep(warmup)
        for hook in on_start:
            hook()
        cpu0, stats.window_start = time.process_time(), time.perf_counter()
        begin = stats.window_start
        await asyncio.sleep(duration)
        end, cpu1 = time.perf_counter(), time.process_time()
        stats.window_start = float("inf")  # stop counting
        for hook in on_stop:
            hook()
    finally:
        for task in tasks:
            task.cancel()
        outcomes = await asyncio.gather(*tasks, return_exceptions=True)
    for outcome in outcomes:  # a scenario that raised: report it, not a silent dead connection
        if isinstance(outcome, Exception):
            raise outcome
    return _summary(url, connections, warmup, stats, end - begin, cpu1 - cpu0)


def _summary(
    url: str, connections: int, warmup: float, stats: _Stats, duration: float, cpu: float
) -> dict[str, Any]:
    ordered = sorted(stats.latencies)
    requests = len(ordered)
    non2xx = {str(s): n for s, n in sorted(stats.status.items()) if not 200 <= s < 300}
    return {
        "url": url,
        "connections": connections,
        "warmup_s": warmup,
        "duration_s": round(duration, 3),
        "requests": requests,
        "ok": requests - sum(non2xx.values()),
        "rps": round(requests / duration, 1),
        "errors": {
            "non2xx": non2xx,
            "socket": dict(stats.socket_errors),
            "total": sum(non2xx.values()) + sum(stats.socket_errors.values()),
        },
        "latency_ms": {
            "p50": _percentile(ordered, 50),
            "p90": _percentile(ordered, 90),
            "p99": _percentile(ordered, 99),
            "max": _percentile(ordered, 100),
            "mean": round(sum(ordered) / requests * 1000, 3) if requests else None,
        },
        "client_cpu": round(cpu / duration, 3),
    }


def pin_self(cpu: int | None) -> None:
    """Pin this process to ``cpu`` (no-op for None or a CPU this process may not use)."""
    if cpu is not None and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})


def loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop


def run(url: str, *, cpu: int | None = None, **kwargs: Any) -> dict[str, Any]:
    """Synchronous wrapper of :func:`run_load`: optionally pins this process to ``cpu``."""
    pin_self(cpu)
    with asyncio.Runner(loop_factory=loop_factory()) as runner:
        result = runner.run(run_load(url, **kwargs))
    result["client_pinned_cpu"] = cpu
    result["event_loop"] = "uvloop" if loop_factory() else "asyncio"
    return result


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"header must be 'Name: value', got {text!r}")
    return name.strip(), value.strip()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("url")
    parser.add_argument("-c", "--connections", type=int, default=32)
    parser.add_argument("-d", "--duration", type=float, default=10.0, help="seconds measured")
    parser.add_argument("-w", "--warmup", type=float, default=2.0, help="seconds not measured")
    parser.add_argument("-H", "--header", type=_header, action="append", default=[])
    parser.add_argument("--method", default="GET")
    parser.add_argument("--body", default="", help="request body (text, sent as UTF-8)")
    parser.add_argument("--timeout", type=float, help="per-request timeout in seconds")
    parser.add_argument("--cpu", type=int, help="pin the load generator to this CPU")
    args = parser.parse_args(argv)
    parts = urlsplit(args.url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request = Request(args.method.upper(), path, dict(args.header), args.body.encode())
    result = run(
        args.url,
        cpu=args.cpu,
        request=request,
        connections=args.connections,
        duration=args.duration,
        warmup=args.warmup,
        timeout=args.timeout,
    )
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
