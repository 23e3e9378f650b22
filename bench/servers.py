"""Start a server pinned to a core on a free loopback port, wait for it, stop it; measure CPU.

``ServerProcess`` pins the child with ``os.sched_setaffinity`` in ``preexec_fn`` (the same
effect as ``taskset -c N``). ``CpuWindow`` measures, over one load run, the CPU seconds of the
server's process tree (utime+stime of it and its descendants, from /proc/<pid>/stat) and the
busy share of every core (/proc/stat), so a result can report server CPU per request, whether
the server was saturated, and how much of its core other processes took.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, NamedTuple

CLK_TCK = os.sysconf("SC_CLK_TCK")
SATURATED = 0.95
"""A run whose server used less than this share of its core was not CPU-bound (or starved)."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def pin_preexec(cpu: int | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` pinning the child to ``cpu`` (None when ``cpu`` is None or absent)."""
    if cpu is None or cpu not in range(os.cpu_count() or 1):
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


class Proc(NamedTuple):
    ppid: int
    comm: str
    own: float
    """utime+stime, seconds"""
    reaped: float
    """cutime+cstime: children it has waited for, seconds"""


def process_table() -> dict[int, Proc]:
    """Every process in /proc with its parent, name and CPU seconds."""
    table: dict[int, Proc] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as f:
                text = f.read()
        except OSError:
            continue
        fields = text[text.rindex(")") + 2 :].split()
        ticks = [int(v) for v in fields[11:15]]
        comm = text[text.index("(") + 1 : text.rindex(")")]
        table[int(name)] = Proc(
            int(fields[1]), comm, (ticks[0] + ticks[1]) / CLK_TCK, (ticks[2] + ticks[3]) / CLK_TCK
        )
    return table


def tree(root: int, table: Mapping[int, Proc]) -> list[int]:
    """``root`` and its live descendants."""
    children: dict[int, list[int]] = {}
    for pid, proc in table.items():
        children.setdefault(proc.ppid, []).append(pid)
    found, stack = [], [root]
    while stack:
        pid = stack.pop()
        if pid in table:
            found.append(pid)
        stack.extend(children.get(pid, ()))
    return found


def tree_cpu_seconds(root: int, table: Mapping[int, Proc] | None = None) -> float:
    """CPU seconds of ``root`` and its descendants (reaped children count via cutime/cstime)."""
    table = process_table() if table is None else table
    return sum(table[pid].own + table[pid].reaped for pid in tree(root, table))


def find_root(comm: str) -> int | None:
    """PID of the oldest process named ``comm`` whose parent is not (e.g. the postmaster)."""
    table = process_table()
    roots = [
        pid
        for pid, proc in table.items()
        if proc.comm == comm and (table[proc.ppid].comm if proc.ppid in table else "") != comm
    ]
    return min(roots) if roots else None


def core_jiffies() -> dict[int, tuple[int, int, int]]:
    """Per core: (busy, steal, total) jiffies from /proc/stat."""
    cores: dict[int, tuple[int, int, int]] = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                name, *values = line.split()
                v = [int(x) for x in values[:8]]
                busy = v[0] + v[1] + v[2] + v[5] + v[6]  # user nice system irq softirq
                cores[int(name[3:])] = (busy, v[7], sum(v))
    return cores


def wait_quiet(limit: float, max_busy: float = 0.1, sample: float = 0.5) -> float:
    """Wait up to ``limit`` s until every core is below ``max_busy``; return the seconds waited.

    Other sessions share these two cores; starting a run while they are busy wastes it.
    """
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = core_jiffies()
        time.sleep(sample)
        after = core_jiffies()
        shares = [(after[c][0] - b[0]) / ((after[c][2] - b[2]) or 1) for c, b in before.items()]
        if max(shares, default=0.0) < max_busy:
            break
    return round(time.monotonic() - started, 1)


def http_get(url: str, timeout: float = 2.0) -> int:
    """Status of a GET (0 when the server does not answer)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, TimeoutError):
        return 0


def drain(url: str, *, limit: float = 120.0, quick: float = 0.1) -> float:
    """Wait until GET ``url`` answers within ``quick`` s (queued slow work is done)."""
    started = time.monotonic()
    while time.monotonic() - started < limit:
        t0 = time.monotonic()
        if http_get(url, timeout=limit) and time.monotonic() - t0 < quick:
            break
        time.sleep(0.2)
    return time.monotonic() - started


class ServerProcess:
    """One server process: ``argv`` may contain ``{port}``, which is replaced by a free port."""

    def __init__(
        self,
        argv: Sequence[str],
        *,
        cpu: int | None = 1,
        env: Mapping[str, str] | None = None,
        cwd: str | Path | None = None,
        log_path: str | Path | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
    ) -> None:
        self.port = port or free_port(host)
        self.host = host
        self.argv = [a.replace("{port}", str(self.port)) for a in argv]
        self.cpu = cpu
        self.env = dict(env) if env is not None else None
        self.cwd = cwd
        self.log_path = Path(log_path) if log_path else None
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        assert self.proc is not None, "server not started"
        return self.proc.pid

    def start(self) -> ServerProcess:
        out: Any = subprocess.DEVNULL
        if self.log_path is not None:
            self._log = out = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=self.cwd,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            preexec_fn=pin_preexec(self.cpu),
            start_new_session=True,
        )
        return self

    def wait_ready(self, path: str = "/health", timeout: float = 60.0) -> float:
        """Poll GET ``path`` until 200; return the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc is not None and self.proc.poll() is not None:
                raise RuntimeError(f"server exited with {self.proc.returncode}: {self._tail()}")
            if http_get(self.url + path, timeout=1.0) == 200:
                return time.monotonic() - started
            time.sleep(0.1)
        raise RuntimeError(f"server not ready after {timeout} s: {self._tail()}")

    def _tail(self) -> str:
        if self.log_path is None or not self.log_path.exists():
            return " ".join(self.argv)
        return self.log_path.read_text(errors="replace")[-2000:]

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, wait up to ``timeout`` s, then SIGKILL it and whatever is left of its group.

        The server runs in its own session, so its process group holds exactly its tree
        (a Linux PID stays reserved while it names a live group, so this kills nothing else).
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        if self._log is not None:
            self._log.close()
        return self.proc.returncode

    def cpu_seconds(self) -> float:
        return tree_cpu_seconds(self.pid)

    def __enter__(self) -> ServerProcess:
        return self.start() if self.proc is None else self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.stop()


class CpuWindow:
    """CPU use over one measured window; pass ``start``/``stop`` as load-generator hooks."""

    def __init__(self, server: ServerProcess, others: Mapping[str, int] | None = None) -> None:
        """``others``: name -> root pid of further process trees to report (e.g. postgres)."""
        self.server = server
        self.others = dict(others or {})
        self._t = [0.0, 0.0]
        self._procs: list[dict[int, Proc]] = [{}, {}]
        self._cores: list[dict[int, tuple[int, int, int]]] = [{}, {}]

    def start(self) -> None:
        self._cores[0], self._procs[0] = core_jiffies(), process_table()
        self._t[0] = time.perf_counter()

    def stop(self) -> None:
        self._t[1] = time.perf_counter()
        self._cores[1], self._procs[1] = core_jiffies(), process_table()

    def _tree_delta(self, root: int) -> float:
        return tree_cpu_seconds(root, self._procs[1]) - tree_cpu_seconds(root, self._procs[0])

    def _busiest_others(self, elapsed: float, limit: int = 3) -> list[dict[str, Any]]:
        """Processes outside the server tree (and this one) that used >= 2 % of a core.

        Approximate: a process that started in the window counts whole, and one reaped in it
        counts (whole) towards its parent.
        """
        skip = {os.getpid(), *tree(self.server.pid, self._procs[1])}
        used: list[tuple[float, int, str]] = []
        for pid, proc in self._procs[1].items():
            before = self._procs[0].get(pid)
            if before is None or before.comm != proc.comm:
                before = Proc(proc.ppid, proc.comm, 0.0, 0.0)  # started during the window
            # own + reaped: short-lived children that exited count towards their parent
            delta = proc.own + proc.reaped - before.own - before.reaped
            if pid not in skip and (cores := delta / elapsed) >= 0.02:
                used.append((cores, pid, proc.comm))
        used.sort(reverse=True)
        return [{"pid": p, "comm": c, "cores": round(u, 3)} for u, p, c in used[:limit]]

    def result(self, requests: int) -> dict[str, Any]:
        elapsed = (self._t[1] - self._t[0]) or 1e-9
        cpu = self._tree_delta(self.server.pid)
        share = cpu / elapsed
        busy: dict[str, float] = {}
        steal: dict[str, float] = {}
        for core, (b1, s1, t1) in self._cores[1].items():
            b0, s0, t0 = self._cores[0].get(core, (b1, s1, t1))
            total = (t1 - t0) or 1
            busy[str(core)] = round((b1 - b0) / total, 3)
            steal[str(core)] = round((s1 - s0) / total, 3)
        result: dict[str, Any] = {
            "server_cpu_s": round(cpu, 3),
            "server_cores": round(share, 3),
            "server_cpu_us_per_req": round(cpu / requests * 1e6, 1) if requests else None,
            "saturated": share >= SATURATED,
            "core_busy": busy,
            "core_steal": steal,
        }
        if self.server.cpu is not None and str(self.server.cpu) in busy:
            # Busy time on the server's core not spent by the server: other processes (noise).
            foreign = busy[str(self.server.cpu)] - share
            result["server_core_foreign"] = round(max(foreign, 0.0), 3)
        if self.others:
            result["other_cores"] = {
                name: round(self._tree_delta(pid) / elapsed, 3) for name, pid in self.others.items()
            }
        result["busiest_other_processes"] = self._busiest_others(elapsed)
        return result
