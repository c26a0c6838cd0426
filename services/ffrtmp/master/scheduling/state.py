"""What the scheduler's parts share, each change behind one method.

The store holds the truth; `State` holds what is rebuilt from it at start (the
pending heaps, the worker sessions) and what lives only in memory (progress,
cancels awaiting their worker, retry timers, where a job failed). Time and
randomness are injected, so a test can drive every race by hand.

Who changes what: the heaps are filled by `enqueue*` (submit, retries, lost
nodes), popped by the dispatcher and emptied of canceled jobs by `unqueue`;
retry timers are set by attempts and taken by liveness's sweep; cancels are
marked by the scheduler and settled by attempts when the run is over; progress
and failure notes belong to attempts; sessions are made here and connected,
touched and lost by liveness; a session's leases are reserved and granted by
the dispatcher and released by attempts (a result) or liveness (a loss).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine, Iterable
from dataclasses import asdict
from typing import Any

from ffrtmp.core.matching import Tokens, requirements
from ffrtmp.core.model import Job, JobState, Lease, ProgressInfo
from ffrtmp.core.priority import QUEUE_CLASSES, heap_key
from ffrtmp.core.queue import Kind, PendingJobs
from ffrtmp.core.states import check_changes
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.observe.metrics import MasterMetrics
from ffrtmp.master.scheduling.sessions import NodeSession
from ffrtmp.master.scheduling.sources import REAL, Sources
from ffrtmp.master.scheduling.watch import ChangeFeed
from ffrtmp.master.storage.blobs.outputs import OutputBuckets
from ffrtmp.master.storage.protocol import Before, Change, JobStore, QueuedRun, decode_needs

log = logging.getLogger(__name__)

Fields = tuple[tuple[str, object], ...]




class State:
    def __init__(
        self,
        store: JobStore,
        config: MasterConfig,
        metrics: MasterMetrics,
        sources: Sources = REAL,
        outputs: OutputBuckets | None = None,  # buckets for s3:// outputs
    ) -> None:
        self.store = store
        self.outputs = outputs
        self.config = config
        self.metrics = metrics
        self.clock = sources.clock
        self.now_ms = sources.wall
        self.rand = sources.rand
        self.trace_context = sources.trace_context
        self.pending = PendingJobs()
        self.nodes: dict[str, NodeSession] = {}
        self.feed = ChangeFeed()
        self.wake_dispatch = asyncio.Event()
        self.freed: set[str] = set()  # workers with a slot freed since the last round
        self.wake_timers = asyncio.Event()
        self.accepting = True
        self._progress: dict[str, ProgressInfo] = {}  # live progress of running jobs
        # Canceled attempts awaiting their worker's report (by lease: a retry runs uncanceled).
        self._canceled: set[Lease] = set()
        self._retry_at: dict[str, float] = {}  # RETRY_WAIT job -> monotonic due time
        # Nodes where a job's attempts failed, so its retry goes elsewhere if it can.
        self._failed_on: dict[str, set[str]] = {}
        self._needs: dict[str, Tokens] = {}  # interned requirement sets
        self.offer_sets: dict[Tokens, Tokens] = {}  # interned offer sets (liveness.py)
        self._tasks: set[asyncio.Task[None]] = set()

    # -- the one way to change a job ----------------------------------------
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
        [before] = await self.apply(
            [
                Change(
                    job.id,
                    expect,
                    to,
                    reason,
                    self.now_ms(),
                    expect_attempt=job.attempt if expect_attempt is None else expect_attempt,
                    node_id=node_id,
                    attempt=attempt,
                    fields=fields,
                )
            ]
        )
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
        change = Change(
            lease.job_id, expect, to, reason, self.now_ms(),
            expect_attempt=lease.attempt, fields=fields,
        )
        [before] = await self.apply([change])
        return before

    async def apply(self, changes: list[Change]) -> list[Before | None]:
        """Commit changes the transition table allows; watchers hear of those applied."""
        for ch in changes:
            check_changes(ch.expect_states, ch.to_state)
        applied = await self.store.apply(changes) if changes else []
        for ch, before in zip(changes, applied, strict=True):
            if before is not None:
                self.feed.publish(ch.job_id)
        return applied

    def draining_offers(self) -> dict[str, Tokens]:
        """Connected workers that take no new jobs (drained or shutting down)."""
        return {s.node_id: s.offers for s in self.nodes.values() if s.connected and not s.accepting}

    # -- the pending heaps ----------------------------------------------------
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

    def load_queued(self, runs: list[QueuedRun]) -> None:
        """Start-up: every QUEUED job (see JobStore.queued_keys). Without aging a
        store's rows are the heap items themselves, in heap order (no heapify),
        and the jobs of a run share one Kind: no object made per job."""
        self.wake_dispatch.set()
        aging = self.config.aging_interval_s
        if aging > 0:  # keys from each job's age: made one by one, then heapified
            self.pending.load(
                (job_id, needs, heap_key(q, p, seq, enqueued_ms=ms, aging_interval_s=aging),
                 q, p, ms)
                for rank, encoded, items in runs
                for (q, p), needs in [(QUEUE_CLASSES[rank], self.intern_needs(encoded))]
                for _, seq, job_id, ms in items
            )
            return
        self.pending.load_runs(
            (
                (Kind(rank, self.intern_needs(encoded), *QUEUE_CLASSES[rank]), items)
                for rank, encoded, items in runs
            ),
            in_order=True,
        )

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

    def unqueue(self, job_id: str) -> None:
        """A waiting job was canceled: out of the heaps and off the retry timers."""
        self.pending.remove(job_id)
        self._retry_at.pop(job_id, None)

    # -- retry timers -----------------------------------------------------------
    def wait_retry(self, job_id: str, delay_s: float) -> None:
        self._retry_at[job_id] = self.clock() + delay_s
        self.wake_timers.set()

    def due_retries(self, now: float) -> list[str]:
        """Jobs whose backoff is over, taken off the timers."""
        due = [job_id for job_id, at in self._retry_at.items() if at <= now]
        for job_id in due:
            del self._retry_at[job_id]
        return due

    def retry_deadlines(self) -> Iterable[float]:
        return self._retry_at.values()

    @property
    def retry_waiting(self) -> int:
        return len(self._retry_at)

    # -- cancels awaiting their worker ------------------------------------------
    def mark_canceled(self, lease: Lease) -> None:
        self._canceled.add(lease)

    def is_canceled(self, lease: Lease) -> bool:
        return lease in self._canceled

    def settle_canceled(self, lease: Lease) -> bool:
        """The attempt's run is over: True if it had been canceled."""
        if lease not in self._canceled:
            return False
        self._canceled.discard(lease)
        return True

    def canceled_among(self, leases: Iterable[Lease]) -> list[Lease]:
        return [lease for lease in leases if lease in self._canceled]

    # -- live progress ---------------------------------------------------------
    def set_progress(self, job_id: str, progress: ProgressInfo) -> None:
        self._progress[job_id] = progress
        self.feed.publish(job_id)

    def progress(self, job_id: str) -> ProgressInfo | None:
        return self._progress.get(job_id)

    def take_progress(self, job_id: str) -> ProgressInfo | None:
        return self._progress.pop(job_id, None)

    def progress_fields(self, job_id: str) -> Fields:
        """The live progress as a row field, so a job stopped halfway keeps it."""
        p = self._progress.get(job_id)
        return (("progress", json.dumps(asdict(p))),) if p is not None else ()

    # -- where a job failed ------------------------------------------------------
    def failed_on(self, job_id: str, node_id: str) -> None:
        self._failed_on.setdefault(job_id, set()).add(node_id)

    def avoid(self, job_id: str) -> set[str] | None:
        """Nodes the job failed on: its retry goes elsewhere when it can."""
        return self._failed_on.get(job_id)

    def forget_failures(self, job_id: str) -> None:
        self._failed_on.pop(job_id, None)

    def finished(self, job: Job, outcome: str) -> None:
        self.finished_id(job.id, job.spec.queue, outcome)

    def finished_id(self, job_id: str, queue: str, outcome: str) -> None:
        self.forget_failures(job_id)
        self.metrics.jobs_finished.labels(queue, outcome).inc()

    # -- workers -------------------------------------------------------------
    def session(self, node_id: str) -> NodeSession:
        """The node's session, made on first sight."""
        s = self.nodes.get(node_id)
        if s is None:
            s = self.nodes[node_id] = NodeSession(node_id, {}, 0, last_seen=self.clock())
        return s

    # -- background steps ---------------------------------------------------------
    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """A step that need not hold up its caller; failures are logged."""
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background step failed", exc_info=task.exception())

    async def settle(self) -> None:
        """Wait until every spawned step has finished (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
