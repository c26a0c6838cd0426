"""Write operations for the SQLite store's upkeep: retention's batched delete,
statistics, incremental vacuum, and the health probe's write."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

from ffrtmp.core.model import TERMINAL
from ffrtmp.master.storage.sqlite.file import incremental_vacuum

_TERMINAL = tuple(sorted(int(s) for s in TERMINAL))
VACUUM_PAGES = 2000  # ~8 MB of 4 KiB pages per writer turn


def delete_batch(cutoff_ms: int, limit: int) -> Callable[[sqlite3.Connection], int]:
    """A write op deleting up to `limit` terminal jobs last changed before `cutoff_ms`;
    never a child of a group still open (its join or its retry may need it)."""

    def op(conn: sqlite3.Connection) -> int:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM jobs WHERE state IN (?,?,?) AND updated_ms < ?"
                " AND (parent_id = '' OR NOT EXISTS (SELECT 1 FROM jobs p"
                " WHERE p.id = jobs.parent_id AND p.state NOT IN (?,?,?))) LIMIT ?",
                (*_TERMINAL, cutoff_ms, *_TERMINAL, limit),
            )
        ]
        if ids:
            marks = ",".join("?" * len(ids))
            conn.execute(f"DELETE FROM job_events WHERE job_id IN ({marks})", ids)
            conn.execute(f"DELETE FROM jobs WHERE id IN ({marks})", ids)
        return len(ids)

    return op


def optimize(conn: sqlite3.Connection) -> int:
    conn.execute("PRAGMA optimize")
    return 0


def vacuum_some(conn: sqlite3.Connection) -> int:
    return incremental_vacuum(conn, VACUUM_PAGES)


def select_one(conn: sqlite3.Connection) -> int:
    return int(conn.execute("SELECT 1").fetchone()[0])
