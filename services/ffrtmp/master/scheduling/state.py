"""What the scheduler's parts share: the store, the pending heaps, the sessions
of workers, and the one way to change a job (a compare-and-set in the store)."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Coroutine
from typing import Any

from ffrtmp.core.matching import Tokens, requirements
from ffrtmp.core.model import Job, JobState, Lease, ProgressInfo
from ffrtmp.core.priority import QUEUE_CLASSES, heap_key, score
from ffrtmp.core.queue import PendingJobs
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.observe.metrics import MasterMetrics
from ffrtmp.master.scheduling.sessions import NodeSession
from ffrtmp.master.scheduling.watch import ChangeFeed
from ffrtmp.master.storage.protocol import Before, Change, JobStore, QueuedKey, decode_needs

log = logging.getLogger(__name__)

Fields = tuple[tuple[str, object], ...]


def now_ms() -> int:
    return int(time.time() * 1000)


class State:
    def __init__(
        self,
        store: JobStore,
        config: MasterConfig,
        metrics: MasterMetrics,
        *,
        clock: Callable[[], float] = time.monotonic,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.store = store
        self.config = config
        self.metrics = metrics
        self.clock = clock
        self.rand = rand
        self.pending = PendingJobs()
        self.nodes: dict[str, NodeSession] = {}
        self.feed = ChangeFeed()
        self.progress: dict[str, ProgressInfo] = {}  # live progress of running jobs
        self.canceled: set[str] = set()  # active jobs canceled, awaiting their worker
        self.retry_at: dict[str, float] = {}  # RETRY_WAIT job -> monotonic due time
        # Nodes where a job's attempts failed, so its retry goes elsewhere if it can.
        self.failed_on: dict[str, set[str]] = {}
        self.wake_dispatch = asyncio.Event()
        self.wake_timers = asyncio.Event()
        self.accepting = True
        self._needs: dict[str, Tokens] = {}  # interned requirement sets
        # The submit's trace context for a job, carried in Assign (set when tracing).
        self.trace_context: Callable[[str], dict[str, str]] = lambda job_id: {}

    async def change(
        self,
        job: Job,
        expect: frozenset[JobState],
        to: JobState,
        reason: str,
        *,
        expect_attempt: int | None = None,
        node_id: str | None = None,
        attempt: int | None = None,
        fields: Fields = (),
    ) -> bool:
        [before] = await self.store.apply([
            Change(
                job.id,
                expect,
                to,
                reason,
                now_ms(),
                expect_attempt=job.attempt if expect_attempt is None else expect_attempt,
                node_id=node_id,
                attempt=attempt,
                fields=fields,
            )
        ])
        if before is not None:
            self.feed.publish(job.id)
        return before is not None

    async def change_lease(
        self,
        lease: Lease,
        expect: frozenset[JobState],
        to: JobState,
        reason: str,
        *,
        fields: Fields = (),
    ) -> Before | None:
        """A change for a worker's lease, without reading the job first: the
        compare-and-set on (state, attempt) decides. Returns the job as it was."""
        [before] = await self.store.apply([
            Change(
                lease.job_id,
                expect,
                to,
                reason,
                now_ms(),
                expect_attempt=lease.attempt,
                fields=fields,
            )
        ])
        if before is not None:
            self.feed.publish(lease.job_id)
        return before

    def intern_needs(self, encoded: str) -> Tokens:
        needs = self._needs.get(encoded)
        if needs is None:
            needs = self._needs[encoded] = decode_needs(encoded)
        return needs

    def enqueue(
        self, job_id: str, queue: str, priority: str, seq: int, enqueued_ms: int, needs: Tokens
    ) -> None:
        key = heap_key(
            queue,
            priority,
            seq,
            enqueued_ms=enqueued_ms,
            aging_interval_s=self.config.aging_interval_s,
        )
        self.pending.push(job_id, needs, key, queue, priority, enqueued_ms)
        self.wake_dispatch.set()

    def load_queued(self, rows: list[QueuedKey]) -> None:
        """Start-up: every QUEUED job (see JobStore.queued_keys)."""
        aging = self.config.aging_interval_s
        intern = self.intern_needs
        classes = QUEUE_CLASSES
        if aging > 0:
            keys = [
                heap_key(*classes[c], seq, enqueued_ms=ms, aging_interval_s=aging)
                for _, c, seq, ms, _ in rows
            ]
        else:  # the common case, a million times: the nine scores looked up, not computed
            scores = [float(-score(q, p)) for q, p in classes]
            keys = [(scores[c], seq) for _, c, seq, _, _ in rows]
        self.pending.load(
            (r[0], intern(r[4]), key, *classes[r[1]], r[3])
            for r, key in zip(rows, keys, strict=True)
        )
        self.wake_dispatch.set()

    def enqueue_job(self, job: Job) -> None:
        # Aging counts from submission, so a retried job keeps what it earned.
        self.enqueue(
            job.id,
            job.spec.queue,
            job.spec.priority,
            job.seq,
            job.created_ms,
            requirements(job.spec),
        )

    def finished(self, job: Job, outcome: str) -> None:
        self.finished_id(job.id, job.spec.queue, outcome)

    def finished_id(self, job_id: str, queue: str, outcome: str) -> None:
        self.failed_on.pop(job_id, None)
        self.metrics.jobs_finished.labels(queue, outcome).inc()

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(_log_failure)


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background step failed", exc_info=task.exception())
