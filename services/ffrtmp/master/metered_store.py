"""The SQLite store, observed: its group commits timed and counted, and every
committed job transition reported to the job lifecycle (wait and run times,
lifecycle spans, a log line).

Store's writer hands each batch to `_run` as `partial(_commit_batch, ops=[...])`;
`_run` calls carrying `ops` are timed (one batch = one transaction = one fsync).
Other `_run` calls (the migrations) are not commits of the writer.

Inserts: observers learn a job's id as soon as it is committed (the submit's
trace context is taken then). Transitions: every state change goes through
`apply_many`, a compare-and-set. Observing it here, in the same write, sees
exactly the committed changes with the state each job left and since when —
whichever scheduler path made them."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

from ffrtmp.core.model import Job, JobEvent, JobState
from ffrtmp.master.lifecycle import Before
from ffrtmp.master.metrics import MasterMetrics
from ffrtmp.master.store import Change, Store, _apply_change

log = logging.getLogger("ffrtmp.master.store")
T = TypeVar("T")
Observer = Callable[[Before, JobState, int, str, int], None]


def _before(conn: sqlite3.Connection, job_id: str) -> Before | None:
    row = conn.execute(
        "SELECT queue, state, updated_ms, node_id, attempt FROM jobs WHERE id=?", (job_id,)
    ).fetchone()
    if row is None:
        return None
    return Before(job_id, row[0], JobState(row[1]), row[2], row[3], row[4])


class MeteredStore(Store):
    def __init__(self, path: Path, metrics: MasterMetrics, *, synchronous: str = "FULL") -> None:
        super().__init__(path, synchronous=synchronous)
        self.metrics = metrics
        self.observers: list[Observer] = []
        # Called with a new job's id after its insert commits, before it is queued,
        # in the task of the call that submitted it.
        self.inserted: list[Callable[[str], None]] = []

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        ops = getattr(fn, "keywords", {}).get("ops")
        if ops is None:
            return await super()._run(fn)
        start = time.perf_counter()
        result = await super()._run(fn)
        self.metrics.store_commit_seconds.observe(time.perf_counter() - start)
        self.metrics.store_batch_size.observe(len(ops))
        self.metrics.store_batches.inc()
        return result

    async def insert_job(self, job: Job, event: JobEvent) -> tuple[Job, bool]:
        stored, created = await super().insert_job(job, event)
        if created:
            for observe in self.inserted:
                observe(stored.id)
        return stored, created

    async def apply_many(self, changes: Iterable[Change]) -> list[bool]:
        items = list(changes)
        if not self.observers:
            return await super().apply_many(items)

        def op(conn: sqlite3.Connection) -> list[tuple[Before | None, bool]]:
            out = []
            for ch in items:
                before = _before(conn, ch.job_id)
                out.append((before, _apply_change(conn, ch)))
            return out

        results = await self.write(op)
        for ch, (before, ok) in zip(items, results, strict=True):
            if ok and before is not None:
                for observe in self.observers:
                    try:
                        observe(before, ch.to_state, ch.at_ms, ch.node_id or "", ch.attempt or 0)
                    except Exception:  # observing must never fail a committed change
                        log.exception("transition observer failed")
        return [ok for _, ok in results]
