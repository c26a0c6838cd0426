"""The process between the worker and its ffmpeg: it holds the lease's deadline.

Run as a script (`python -S fence_launcher.py WORKER_PID NICE DEADLINE ffmpeg ...`),
stdlib only, so it starts in milliseconds. It forks ffmpeg into a process group of
its own and stays its parent, because a fence that lives in the worker's event loop
cannot act while that loop is stalled (a GC pause, swap, SIGSTOP of the daemon).

Its stdin is a pipe from the worker, one command a line:
  d SECONDS  the new deadline, on CLOCK_MONOTONIC (shared by every process of a
             host); "d inf" for none
  t          SIGTERM ffmpeg's group (and SIGCONT, so a paused ffmpeg acts on it)
  k          SIGKILL ffmpeg's group
  s / c      SIGSTOP / SIGCONT ffmpeg's group (pause, resume)
When the deadline passes without a renewal, or the pipe closes (the worker died or
let go), the launcher SIGKILLs ffmpeg's group by itself and says so on stderr.

The launcher exits as ffmpeg did (the same code, or killed by the same signal), so
the worker reads ffmpeg's exit status exactly. Its own lines on stderr start with
MARK; ffmpeg's pid is the first of them.
"""

from __future__ import annotations

import contextlib
import ctypes
import math
import os
import select
import signal
import sys
import time

MARK = "ffrtmp-launcher:"
FENCED = "fenced"  # the word after MARK when the launcher killed ffmpeg by itself
PR_SET_PDEATHSIG = 1
# Exit code when the deadline had passed before ffmpeg could start (MARK says why).
NOT_STARTED = 125


def _say(text: str) -> None:
    os.write(2, f"{MARK} {text}\n".encode())


def _pdeathsig() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


def _spawn(argv: list[str], nice: int) -> int:
    parent = os.getpid()
    pid = os.fork()
    if pid:
        # The child does this too; doing it here as well means a kill sent right
        # after the fork never finds the group missing.
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        with contextlib.suppress(OSError):  # only ever lowered: unprivileged is fine
            os.setpriority(os.PRIO_PROCESS, pid, max(nice, os.getpriority(os.PRIO_PROCESS, 0)))
        return pid
    try:  # the child: its own group, niced, dying with the launcher, then ffmpeg
        os.setpgid(0, 0)
        _pdeathsig()
        if os.getppid() != parent:
            os._exit(137)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)
        os.execv(argv[0], argv)
    finally:
        os._exit(127)


def _exit_as(status: int) -> None:
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        if sig != signal.SIGKILL:
            with contextlib.suppress(OSError, ValueError):
                signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
        os._exit(128 + sig)  # a signal that does not end a process by default
    os._exit(os.waitstatus_to_exitcode(status))


def _group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, sig)


def main(args: list[str]) -> None:
    worker, nice, deadline = int(args[0]), int(args[1]), float(args[2])
    argv = args[3:]
    _pdeathsig()
    if os.getppid() != worker:
        os._exit(137)  # the worker died before prctl
    # Signals for the worker's session are not for us: ffmpeg is stopped through stdin.
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)
    if time.monotonic() >= deadline:
        _say(f"{FENCED}: the deadline passed before ffmpeg started")
        os._exit(NOT_STARTED)
    pid = _spawn(argv, nice)
    _say(f"ffmpeg pid {pid}")
    child = os.pidfd_open(pid)
    stdin_open = True
    buf = b""
    fenced = False
    while True:
        timeout = None if math.isinf(deadline) or fenced else max(0.0, deadline - time.monotonic())
        ready, _, _ = select.select([child, 0] if stdin_open else [child], [], [], timeout)
        if child in ready:
            break
        if 0 in ready:
            chunk = os.read(0, 4096)
            if not chunk:
                stdin_open = False
                if not fenced:
                    fenced = True
                    _group(pid, signal.SIGKILL)
                    _say(f"{FENCED}: the worker closed the pipe; ffmpeg killed")
                continue
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                deadline = _command(line.decode(), pid, deadline)
        if not fenced and time.monotonic() >= deadline:
            fenced = True
            # Kill first: ffmpeg shares our stderr, and while the worker is stopped
            # that pipe may be full, so saying so can block until it drains.
            _group(pid, signal.SIGKILL)
            _say(f"{FENCED}: no renewal from the worker by the deadline; ffmpeg killed")
    _group(pid, signal.SIGKILL)  # anything ffmpeg left in its group (its pid is not free yet)
    _, status = os.waitpid(pid, 0)
    _exit_as(status)


def _command(line: str, pid: int, deadline: float) -> float:
    op, _, arg = line.partition(" ")
    if op == "d":
        return float(arg)
    if op == "t":
        _group(pid, signal.SIGTERM)
        _group(pid, signal.SIGCONT)
    elif op == "k":
        _group(pid, signal.SIGKILL)
    elif op == "s":
        _group(pid, signal.SIGSTOP)
    elif op == "c":
        _group(pid, signal.SIGCONT)
    return deadline


if __name__ == "__main__":
    main(sys.argv[1:])
