"""How ffmpeg is started: under fence_launcher.py, which holds the lease's deadline.

ffmpeg runs in a session of its own, so signals aimed at the worker do not reach it;
the launcher between them dies with the worker (PR_SET_PDEATHSIG), takes ffmpeg
with it, and kills ffmpeg by itself when the worker stops renewing the deadline.
It is a separate interpreter because a fork hook in the worker would run inside
grpc's threads. Linux only (prctl, pidfd).
"""

from __future__ import annotations

import math
import os
import signal
import sys
from pathlib import Path

from ffrtmp.worker import fence_launcher

SCRIPT = Path(fence_launcher.__file__)
MARK = fence_launcher.MARK
FENCED = fence_launcher.FENCED
# A signal for ffmpeg's group, as a command on the launcher's stdin.
COMMANDS = {
    signal.SIGTERM: b"t\n",
    signal.SIGKILL: b"k\n",
    signal.SIGSTOP: b"s\n",
    signal.SIGCONT: b"c\n",
}


def launch_argv(argv: list[str], nice: int, deadline: float | None) -> list[str]:
    """The argv that runs `argv` under the launcher; `deadline` on time.monotonic()
    (CLOCK_MONOTONIC), None for none."""
    limit = "inf" if deadline is None else repr(deadline)
    return [sys.executable, "-S", str(SCRIPT), str(os.getpid()), str(nice), limit, *argv]


def deadline_line(deadline: float | None) -> bytes:
    return b"d inf\n" if deadline is None or math.isinf(deadline) else f"d {deadline!r}\n".encode()
