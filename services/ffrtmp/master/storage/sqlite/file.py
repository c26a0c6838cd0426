"""Settings of the SQLite file itself that must be chosen before the schema exists.

`auto_vacuum=INCREMENTAL` lets retention hand freed pages back to the file
system a few at a time (`PRAGMA incremental_vacuum`) instead of a blocking
VACUUM. SQLite only accepts it before the first table is created, so it is
written into a brand-new file before the store runs its migrations; an older
file keeps its mode (a full VACUUM would be needed to change it) and simply
reuses its free pages."""

from __future__ import annotations

import sqlite3
from pathlib import Path

INCREMENTAL = 2  # PRAGMA auto_vacuum value


def prepare(path: Path) -> None:
    """Give a new (absent or empty) database file incremental auto-vacuum."""
    if path.exists() and path.stat().st_size > 0:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
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
