"""A restart's read of every queued job, in the heaps' order.

The partial index `jobs_queued` (migration 6) holds the queued jobs sorted by
(queue, priority, needs, seq) with every column the heaps need, so each run of
one class and needs set is a range of it read in order, never the table. The
runs are taken class by class in rank order; the needs sets of a class are
found by skipping through the index, one seek each.
"""

from __future__ import annotations

import sqlite3

from ffrtmp.core.model import JobState
from ffrtmp.core.priority import QUEUE_CLASSES
from ffrtmp.master.storage.protocol import QueuedRun

_Q = int(JobState.QUEUED)  # a literal in the SQL: only then is the partial index usable
_NEXT_NEEDS = (
    f"SELECT needs FROM jobs WHERE state = {_Q} AND queue = ? AND priority = ? AND needs > ?"
    " ORDER BY needs LIMIT 1"
)
_FIRST_NEEDS = _NEXT_NEEDS.replace("needs > ?", "needs >= ?")
_RUN = (
    f"SELECT ?, seq, id, created_ms FROM jobs WHERE state = {_Q} AND queue = ? AND priority = ?"
    " AND needs = ? ORDER BY seq"
)


def queued_runs(conn: sqlite3.Connection) -> list[QueuedRun]:
    runs: list[QueuedRun] = []
    for rank, (queue, priority) in enumerate(QUEUE_CLASSES):
        row = conn.execute(_FIRST_NEEDS, (queue, priority, "")).fetchone()
        while row is not None:
            needs: str = row[0]
            items = conn.execute(_RUN, (rank, queue, priority, needs)).fetchall()
            runs.append((rank, needs, items))
            row = conn.execute(_NEXT_NEEDS, (queue, priority, needs)).fetchone()
    return runs
