"""A command whose stderr is a terminal (a pseudo-terminal of 120x40), as a person
runs the CLI: what it drew there, without the escape sequences."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import termios
import threading
from collections.abc import Sequence
from pathlib import Path

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b\][^\x07]*\x07|\r")


def run_with_tty_stderr(
    argv: Sequence[str], env: dict[str, str], cwd: Path, timeout: float
) -> subprocess.CompletedProcess[str]:
    """stdout as usual; stderr is what the terminal showed, escape codes removed."""
    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    drawn = bytearray()

    def drain() -> None:  # the pty's buffer is small: read while the command draws
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # EIO: every writer has closed it
                return
            if not chunk:
                return
            drawn.extend(chunk)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    try:
        r = subprocess.run(list(argv), env={**env, "TERM": "xterm"}, cwd=cwd, stderr=follower,
                           stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, text=True,
                           timeout=timeout, check=False)
    finally:
        os.close(follower)
        reader.join(10)
        os.close(leader)
    return subprocess.CompletedProcess(r.args, r.returncode, r.stdout,
                                       ANSI.sub("", drawn.decode(errors="replace")))
