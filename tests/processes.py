"""Running the ``aicc`` command as a user would: real subprocesses with a clean environment."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

OWN_PREFIXES = ("AICC_", "DATABASE_", "REDIS_", "S3_", "JWT_", "ENCRYPTION_")


def aicc_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    """This machine's environment without any of our variables, data in ``tmp_path/var``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(OWN_PREFIXES)}
    env.update({"AICC_DATA_DIR": str(tmp_path / "var"), "PYTHONUNBUFFERED": "1", **extra})
    return env


def run_aicc(
    *args: str, env: dict[str, str], cwd: Path, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aicc", *args],
        env=env,
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
    )


class Running:
    """``aicc ARGS`` in the background; ``banner`` is all it printed up to "Press Ctrl-C"."""

    def __init__(
        self, args: list[str], env: dict[str, str], cwd: Path, *, wait: bool = True
    ) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aicc", *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.banner = self._read_banner(timeout=60) if wait else ""

    def wait_banner(self, timeout: float = 60) -> str:
        """For processes started with ``wait=False`` (several at once)."""
        self.banner = self._read_banner(timeout)
        return self.banner

    def _read_banner(self, timeout: float) -> str:
        assert self.proc.stdout is not None
        lines: queue.Queue[str] = queue.Queue()
        stdout = self.proc.stdout

        def pump() -> None:
            for line in stdout:
                lines.put(line)

        threading.Thread(target=pump, daemon=True).start()
        seen: list[str] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = lines.get(timeout=0.2)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            seen.append(line)
            if line.startswith("Press Ctrl-C"):
                return "".join(seen)
        self.proc.kill()
        err = self.proc.stderr.read() if self.proc.stderr else ""
        self.proc.wait()
        raise AssertionError(f"no banner; stdout={''.join(seen)!r} stderr={err[-3000:]!r}")

    def stop(self, sig: signal.Signals = signal.SIGTERM, repeat: int = 1) -> tuple[int, float, str]:
        """Send ``sig`` (``repeat`` times at once, as a supervisor and its child both may);
        returns the exit code, seconds to exit, and what went to stderr."""
        started = time.monotonic()
        for _ in range(repeat):
            self.proc.send_signal(sig)
        self.proc.wait(timeout=15)
        err = self.proc.stderr.read() if self.proc.stderr else ""
        return self.proc.returncode, time.monotonic() - started, err

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
