"""Settings of the SQLite file itself that must be chosen before the schema exists.

`auto_vacuum=INCREMENTAL` lets retention hand freed pages back to the file
system a few at a time (`PRAGMA incremental_vacuum`) instead of a blocking
VACUUM. SQLite only accepts it before the first table is created, so it is
written into a brand-new file before the store runs its migrations; an older
file keeps its mode (a full VACUUM would be needed to change it) and simply
reuses its free pages."""

from __future__ import annotations

import contextlib
import os
import sqlite3
from pathlib import Path

INCREMENTAL = 2  # PRAGMA auto_vacuum value
# The database holds stream URLs with keys, logs and the audit trail: owner only.
# SQLite creates -wal and -shm with the database file's mode.
PRIVATE = 0o600
SIDECARS = ("", "-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """Create `path` empty with mode 0600 if absent; tighten it (and its SQLite
    sidecars) if a looser mode was left by an older version."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE))
    for suffix in SIDECARS:
        f = path.with_name(path.name + suffix)
        if f.exists() and f.stat().st_mode & 0o077:
            f.chmod(PRIVATE)


def prepare(path: Path) -> None:
    """Give a new (absent or empty) database file incremental auto-vacuum; make
    it (and its sidecars) private."""
    path.parent.mkdir(parents=True, exist_ok=True)
    make_private(path)
    if path.stat().st_size > 0:
        return
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA auto_vacuum=INCREMENTAL")
        # Switching to WAL writes the header page, which persists auto_vacuum too.
        conn.execute("PRAGMA journal_mode=WAL")
    finally:
        conn.close()


def incremental_vacuum(conn: sqlite3.Connection, max_pages: int) -> int:
    """Release up to `max_pages` free pages; returns how many were released.

    Python's sqlite3 steps a statement once on execute, and each step of this
    pragma frees one page, so it is stepped in a loop (inside the caller's
    transaction; executescript would commit it)."""
    if int(conn.execute("PRAGMA auto_vacuum").fetchone()[0]) != INCREMENTAL:
        return 0
    before = int(conn.execute("PRAGMA freelist_count").fetchone()[0])
    for _ in range(min(before, max_pages)):
        conn.execute("PRAGMA incremental_vacuum")
    return before - int(conn.execute("PRAGMA freelist_count").fetchone()[0])
