"""Retention: terminal jobs and their events older than `--retention` are
deleted, a few hundred per transaction through the store's writer so that
submits and results never wait behind one long delete. After a sweep that
deleted something, `PRAGMA optimize` refreshes the planner's statistics and an
incremental vacuum gives freed pages back to the file system."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable

from ffrtmp.core.model import JobState
from ffrtmp.master.observe.metrics import MasterMetrics
from ffrtmp.master.storage.sqlite_file import incremental_vacuum
from ffrtmp.master.storage.store import Store

log = logging.getLogger(__name__)

TERMINAL = (int(JobState.SUCCEEDED), int(JobState.FAILED), int(JobState.CANCELED))
BATCH = 500
VACUUM_PAGES = 2000  # ~8 MB of 4 KiB pages per writer turn


def delete_batch(cutoff_ms: int, limit: int = BATCH) -> Callable[[sqlite3.Connection], int]:
    """A write op deleting up to `limit` terminal jobs last changed before `cutoff_ms`."""

    def op(conn: sqlite3.Connection) -> int:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT id FROM jobs WHERE state IN (?,?,?) AND updated_ms < ? LIMIT ?",
                (*TERMINAL, cutoff_ms, limit),
            )
        ]
        if ids:
            marks = ",".join("?" * len(ids))
            conn.execute(f"DELETE FROM job_events WHERE job_id IN ({marks})", ids)
            conn.execute(f"DELETE FROM jobs WHERE id IN ({marks})", ids)
        return len(ids)

    return op


def _optimize(conn: sqlite3.Connection) -> int:
    conn.execute("PRAGMA optimize")
    return 0


def _vacuum(conn: sqlite3.Connection) -> int:
    return incremental_vacuum(conn, VACUUM_PAGES)


class Retention:
    def __init__(
        self,
        store: Store,
        metrics: MasterMetrics,
        *,
        keep_s: float,
        interval_s: float,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.keep_s = keep_s
        self.interval_s = interval_s
        self.wall = wall

    async def sweep(self) -> int:
        """One pass; returns how many jobs were deleted."""
        cutoff_ms = int((self.wall() - self.keep_s) * 1000)
        total = 0
        while (n := await self.store.write(delete_batch(cutoff_ms))) > 0:
            total += n
            self.metrics.retention_deleted.inc(n)
            await asyncio.sleep(0)  # let waiting writes into the next batch
        if total:
            await self.store.write(_optimize)
            freed = 0
            while (n := await self.store.write(_vacuum)) > 0:
                freed += n
            log.info(
                "retention: deleted %d jobs older than %.0fs, freed %d pages",
                total,
                self.keep_s,
                freed,
            )
        return total

    async def run(self) -> None:
        while True:
            try:
                await self.sweep()
            except RuntimeError:
                return  # the store closed under us: the master is stopping
            except sqlite3.Error as exc:  # a busy or full disk: try again next time
                log.error("retention sweep failed: %s", exc)
            await asyncio.sleep(self.interval_s)
