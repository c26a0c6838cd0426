"""One master per database file: an exclusive lock held for the master's life.

Two masters on one SQLite file each think they own every lease: one loses the
other's workers and requeues their jobs, which then run twice. The lock is a
`flock` on `<db>.lock` (SQLite's own locks are per transaction, not per
process), so the kernel frees it when the holder dies, even by SIGKILL; the file
says who holds it so the refusal can name them. Offline tools that only add rows
(`ffrtmp-master apikey`, `backup`) do not take it.
"""

from __future__ import annotations

import fcntl
import os
import socket
from pathlib import Path

from ffrtmp.master.storage.sqlite.file import PRIVATE


class DatabaseBusy(OSError):
    """Another master holds the database."""


def lock_path(db: Path) -> Path:
    return db.with_name(db.name + ".lock")


class DatabaseLock:
    def __init__(self, db: Path) -> None:
        self.db = db
        self.path = lock_path(db)
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, PRIVATE)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 256, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise DatabaseBusy(
                f"database {self.path.with_suffix('')} is in use by another master"
                f" ({holder}); one master per database file"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()} on host {socket.gethostname()}\n".encode(), 0)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
