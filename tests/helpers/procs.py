"""Child processes of tests and the benchmark, and what /proc says about them.

Every process started here is remembered and ended by its own pid, never by name.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

_CLK_TCK = os.sysconf("SC_CLK_TCK")
_started: list[Proc] = []


def child_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    # Nothing from the developer's environment may steer the daemons under test.
    for k in [k for k in env if k.startswith("FFRTMP_")]:
        del env[k]
    return env


class Proc:
    """A child whose merged stdout/stderr is read by a thread into a log file, so the
    pipe never fills and each line gets a timestamp (perf_counter) as it arrives."""

    def __init__(self, argv: list[str], log: Path) -> None:
        self.argv = argv
        self.log_path = log
        self._log = open(log, "a", buffering=1)  # noqa: SIM115 - closed in stop()
        self.spawned = time.perf_counter()
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=child_env(),
        )
        self.lines: list[str] = []
        self.stamps: list[float] = []  # arrival time of each of `lines`
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()
        _started.append(self)

    @classmethod
    def python(cls, module: str, args: list[str], log: Path) -> Proc:
        return cls([sys.executable, "-m", module, *args], log)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def _pump(self) -> None:
        assert self.popen.stdout is not None
        for line in self.popen.stdout:
            now = time.perf_counter()
            self._log.write(line)
            with self._cond:
                self.lines.append(line)
                self.stamps.append(now)
                self._cond.notify_all()

    def wait_for_at(self, pattern: str, timeout: float = 60.0) -> tuple[float, re.Match[str]]:
        """(arrival time, match) of the first line matching; fails when the process
        exits or `timeout` passes first."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        seen = 0
        with self._cond:
            while True:
                for i in range(seen, len(self.lines)):
                    if m := rx.search(self.lines[i]):
                        return self.stamps[i], m
                seen = len(self.lines)
                left = deadline - time.monotonic()
                dead = self.popen.poll() is not None and not self._thread.is_alive()
                if left <= 0 or (dead and seen == len(self.lines)):
                    tail = "".join(self.lines[-30:])
                    why = "exited" if dead else "timed out"
                    name = self.argv[2] if len(self.argv) > 2 else self.argv[0]
                    raise AssertionError(f"{name} {why} before {pattern!r}:\n{tail}")
                self._cond.wait(min(left, 0.2))

    def lines_after(self, n: int, timeout: float = 0.2) -> list[str]:
        """The lines after the first `n`, waiting up to `timeout` for one to come."""
        with self._cond:
            if len(self.lines) <= n and self._thread.is_alive():
                self._cond.wait(timeout)
            return self.lines[n:]

    @property
    def done(self) -> bool:
        """Exited, and every line it wrote has been read."""
        return self.popen.poll() is not None and not self._thread.is_alive()

    def wait_for(self, pattern: str, timeout: float = 60.0) -> re.Match[str]:
        return self.wait_for_at(pattern, timeout)[1]

    def signal(self, sig: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.pid, sig)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, SIGKILL after `timeout`, and close the log."""
        if self.popen.poll() is None:
            self.signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.signal(signal.SIGKILL)
                self.popen.wait(5)
        self._thread.join(5)
        self._log.close()
        with contextlib.suppress(ValueError):
            _started.remove(self)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.popen.wait(10)


def stop_all(timeout: float = 5.0) -> None:
    """Whatever a failed run left running."""
    for p in list(_started):
        with contextlib.suppress(Exception):
            p.stop(timeout)


def rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmRSS") / 1024


def peak_rss_mib(pid: int) -> float:
    return _status_kib(pid, "VmHWM") / 1024


def _status_kib(pid: int, key: str) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {key} for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        # The command name may hold spaces; the fields after its ')' are fixed.
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLK_TCK


class CpuMeter:
    """Share of one core a process used between start() and stop()."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._t0 = self._c0 = 0.0

    def start(self) -> None:
        self._t0, self._c0 = time.perf_counter(), cpu_seconds(self.pid)

    def stop(self) -> float:
        wall = time.perf_counter() - self._t0
        return 100.0 * (cpu_seconds(self.pid) - self._c0) / wall if wall > 0 else 0.0
