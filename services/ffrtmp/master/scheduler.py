"""The asyncio scheduler: the queue, the leases held by workers, and every job
transition. SQLite is the truth; the heap and the lease map are rebuilt from it
at start. Each transition is a compare-and-set in the store, so a stale lease
can never overwrite a newer attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable
from dataclasses import dataclass
from typing import Any

from ffrtmp.core.errors import FailedPrecondition, NotFound, Unavailable
from ffrtmp.core.matching import choose_node
from ffrtmp.core.model import ACTIVE, Job, JobEvent, JobState, Lease, Outcome, ProgressInfo
from ffrtmp.core.queue import JobQueue
from ffrtmp.core.retry import decide
from ffrtmp.core.spec import RawSpec, check_request_id, resolve
from ffrtmp.core.states import check_cancelable
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.metrics import MasterMetrics
from ffrtmp.master.sessions import (
    AbortCmd,
    AssignCmd,
    CancelCmd,
    HeartbeatAckCmd,
    NodeSession,
    ResultAckCmd,
)
from ffrtmp.master.store import Change, Store
from ffrtmp.master.watch import ChangeFeed

log = logging.getLogger("ffrtmp.master.scheduler")

WAITING = frozenset({JobState.QUEUED, JobState.RETRY_WAIT})
RESERVED = -1  # a slot taken by a dispatch whose commit is in flight


@dataclass(frozen=True, slots=True)
class RunResult:
    outcome: Outcome
    exit_code: int = 0
    error_class: str = ""
    error: str = ""
    log_tail: str = ""
    output: str = ""
    output_bytes: int = 0


def _now_ms() -> int:
    return int(time.time() * 1000)


class Scheduler:
    def __init__(
        self,
        store: Store,
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
        self.queue = JobQueue()
        self.nodes: dict[str, NodeSession] = {}
        self.feed = ChangeFeed()
        self.progress: dict[str, ProgressInfo] = {}
        self.accepting = True
        self._canceled: set[str] = set()  # active jobs canceled, awaiting the worker
        self._retry_at: dict[str, float] = {}  # RETRY_WAIT job -> monotonic due time
        # Nodes where a job's attempts failed, so its retry goes elsewhere if it can.
        self._failed_on: dict[str, set[str]] = {}
        self._wake_dispatch = asyncio.Event()
        self._wake_timers = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    # -- lifecycle -------------------------------------------------------
    async def start(self) -> None:
        for job_id, queue, priority, seq in await self.store.queued_keys():
            self.queue.push(job_id, queue, priority, seq)
        now, now_ms = self.clock(), _now_ms()
        for job in await self.store.jobs_in_states(ACTIVE | {JobState.RETRY_WAIT}):
            if job.state == JobState.RETRY_WAIT:
                self._retry_at[job.id] = now + max(0, job.not_before_ms - now_ms) / 1000
                continue
            # Leases from before the restart: their workers get one heartbeat
            # timeout to come back and re-offer them.
            s = self.nodes.get(job.node_id)
            if s is None:
                s = self.nodes[job.node_id] = NodeSession(job.node_id, {}, 0, last_seen=now)
            s.leases[job.id] = job.attempt
        self._update_gauges()
        log.info(
            "scheduler started: %d queued, %d leases awaiting their workers",
            len(self.queue),
            sum(len(s.leases) for s in self.nodes.values()),
        )
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="dispatch"),
            asyncio.create_task(self._timer_loop(), name="timers"),
        ]

    async def stop(self) -> None:
        self.accepting = False
        for t in self._tasks:
            t.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        for s in self.nodes.values():
            if s.connected:
                s.outbox.put_nowait(None)

    @property
    def tasks(self) -> list[asyncio.Task[None]]:
        return self._tasks

    # -- client operations -----------------------------------------------
    async def submit(self, raw: RawSpec, request_id: str = "") -> tuple[Job, bool]:
        if not self.accepting:
            raise Unavailable("the master is shutting down and takes no new jobs")
        check_request_id(request_id)
        spec = resolve(raw)
        now = _now_ms()
        job = Job(
            id=secrets.token_hex(8),
            seq=0,
            spec=spec,
            state=JobState.QUEUED,
            created_ms=now,
            updated_ms=now,
            request_id=request_id,
        )
        event = JobEvent(now, None, JobState.QUEUED, "submitted", "", 0)
        stored, created = await self.store.insert_job(job, event)
        if created:
            self.metrics.jobs_submitted.labels(spec.queue, spec.priority).inc()
            self.queue.push(stored.id, spec.queue, spec.priority, stored.seq)
            self._update_gauges()
            self._wake_dispatch.set()
        return stored, created

    async def get(self, job_id: str, *, with_events: bool = True) -> Job:
        job = await self.store.get_job(job_id, with_events=with_events)
        if job is None:
            raise NotFound(f"job {job_id[:64]!r} not found")
        return self._decorate(job)

    def _decorate(self, job: Job) -> Job:
        p = self.progress.get(job.id)
        if p is not None and job.state.active:
            job.progress = p
        return job

    def pending_reason(self, job: Job) -> str:
        if job.state != JobState.QUEUED:
            return ""
        if not any(s.connected and not s.draining for s in self.nodes.values()):
            return "no worker is connected"
        if all(s.free_slots <= 0 for s in self.nodes.values() if s.connected):
            return "every worker's slots are busy"
        return ""

    async def list_jobs(
        self,
        *,
        states: Iterable[JobState] = (),
        queue: str = "",
        node_id: str = "",
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        jobs = await self.store.list_jobs(
            states=states, queue=queue, node_id=node_id, before_seq=before_seq, limit=limit
        )
        return [self._decorate(j) for j in jobs]

    async def cancel(self, job_id: str, reason: str = "") -> Job:
        reason = reason or "canceled by user"
        for _ in range(5):  # the job may move while we look at it
            job = await self.get(job_id, with_events=False)
            check_cancelable(job.state)
            if job.state in WAITING:
                ok = await self._change(job, WAITING, JobState.CANCELED, reason)
                if ok:
                    self.queue.remove(job_id)
                    self._retry_at.pop(job_id, None)
            else:
                ok = await self._change(job, ACTIVE, JobState.CANCELED, reason)
                if ok:
                    self._canceled.add(job_id)
                    s = self.nodes.get(job.node_id)
                    if s is not None and s.holds(job.lease):
                        s.send(CancelCmd(job.lease, reason))
            if ok:
                self._finished(job, "canceled")
                return await self.get(job_id)
        raise Unavailable("the job kept changing state; try again")

    async def retry(self, job_id: str, reason: str = "") -> Job:
        """A FAILED or CANCELED job goes back to its queue with a fresh retry budget."""
        job = await self.get(job_id, with_events=False)
        if job.state not in (JobState.FAILED, JobState.CANCELED):
            raise FailedPrecondition(
                f"job is {job.state.name}; only FAILED or CANCELED jobs can be retried"
            )
        ok = await self._change(
            job,
            frozenset({job.state}),
            JobState.QUEUED,
            reason or "retried by user",
            fields=(("retry_base", job.attempt), ("failure_reason", ""), ("error", "")),
        )
        if not ok:
            raise Unavailable("the job changed state meanwhile; try again")
        self._failed_on.pop(job_id, None)
        self.queue.push(job.id, job.spec.queue, job.spec.priority, job.seq)
        self._update_gauges()
        self._wake_dispatch.set()
        return await self.get(job_id)

    async def watch(self, job_id: str) -> AsyncIterator[Job]:
        """The job now, then after every change, until it is terminal."""
        async with self.feed.subscribe(job_id) as changed:
            while True:
                changed.clear()
                job = await self.get(job_id)
                yield job
                if job.state.terminal:
                    return
                await changed.wait()

    # -- worker stream ---------------------------------------------------
    def connect(
        self,
        node_id: str,
        capabilities: dict[str, object],
        slots: int,
        address: str,
        offered: Iterable[Lease],
    ) -> tuple[NodeSession, list[Lease], list[Lease]]:
        """Register a (re)connected worker; returns its session and which offered
        leases it keeps or must abort."""
        s = self.nodes.get(node_id)
        if s is None:
            s = self.nodes[node_id] = NodeSession(node_id, capabilities, slots)
        elif s.connected:
            s.outbox.put_nowait(None)  # the newer stream wins; end the old one
        s.outbox = asyncio.Queue()
        s.generation += 1
        s.capabilities, s.slots, s.address = capabilities, max(1, slots), address
        s.connected, s.connected_ms = True, _now_ms()
        self.touch(s)
        keep: list[Lease] = []
        abort: list[Lease] = []
        offered_map = {lease.job_id: lease.attempt for lease in offered}
        for job_id, attempt in offered_map.items():
            (keep if s.leases.get(job_id) == attempt else abort).append(Lease(job_id, attempt))
        for job_id, attempt in list(s.leases.items()):
            if attempt != RESERVED and offered_map.get(job_id) != attempt:
                # Assigned, but the worker no longer runs it (restarted, or the
                # Assign was lost with the old stream).
                del s.leases[job_id]
                self._spawn(
                    self._end_attempt(
                        job_id,
                        attempt,
                        "transient",
                        "the worker no longer runs this job",
                        immediate=True,
                    )
                )
        for job_id in self._canceled & set(s.leases):
            s.send(CancelCmd(Lease(job_id, s.leases[job_id]), "canceled by user"))
        self._update_gauges()
        self._wake_dispatch.set()
        return s, keep, abort

    def disconnect(self, s: NodeSession, generation: int) -> None:
        if s.generation == generation and s.connected:
            s.connected = False
            self._update_gauges()
            self._wake_timers.set()

    def touch(self, s: NodeSession) -> None:
        s.last_seen = self.clock()
        s.last_seen_ms = _now_ms()

    def _refuse_stale(self, s: NodeSession, lease: Lease) -> bool:
        if s.holds(lease):
            return False
        self.metrics.stale_leases.inc()
        s.send(AbortCmd(lease, "lease is not current"))
        return True

    async def on_started(self, s: NodeSession, lease: Lease) -> None:
        if self._refuse_stale(s, lease) or lease.job_id in self._canceled:
            return
        job = await self.store.get_job(lease.job_id)
        if job is not None and job.state == JobState.ASSIGNED:
            await self._change(
                job,
                frozenset({JobState.ASSIGNED}),
                JobState.RUNNING,
                f"ffmpeg started on {s.node_id}",
            )

    def on_progress(self, s: NodeSession, lease: Lease, progress: ProgressInfo) -> None:
        if self._refuse_stale(s, lease):
            return
        self.progress[lease.job_id] = progress
        self.feed.publish(lease.job_id)

    def on_heartbeat(
        self, s: NodeSession, running: Iterable[Lease], seq: int, draining: bool = False
    ) -> None:
        self.metrics.heartbeats.inc()
        if draining != s.draining:
            s.draining = draining
            self._wake_dispatch.set()
        s.send(HeartbeatAckCmd(seq))
        for lease in running:
            self._refuse_stale(s, lease)

    async def on_result(self, s: NodeSession, lease: Lease, r: RunResult) -> None:
        if self._refuse_stale(s, lease):
            return
        try:
            await self._apply_result(s, lease, r)
        finally:
            s.send(ResultAckCmd(lease))

    async def _apply_result(self, s: NodeSession, lease: Lease, r: RunResult) -> None:
        del s.leases[lease.job_id]  # the run is over either way: free the slot
        self._wake_dispatch.set()
        self._update_gauges()
        if lease.job_id in self._canceled:
            self._canceled.discard(lease.job_id)
            self.progress.pop(lease.job_id, None)
            self.feed.publish(lease.job_id)
            return
        fields = (
            ("exit_code", r.exit_code),
            ("error", r.error[:4096]),
            ("log_tail", r.log_tail[-16384:]),
            ("output", r.output[:2048]),
            ("output_bytes", r.output_bytes),
        )
        if r.outcome == Outcome.SUCCEEDED:
            job = await self.store.get_job(lease.job_id)
            if job is not None:
                p = self.progress.get(job.id, ProgressInfo())
                done = ProgressInfo(100.0, p.frame, p.fps, p.speed, p.out_time_s, p.bitrate)
                ok = await self._change(
                    job,
                    ACTIVE,
                    JobState.SUCCEEDED,
                    f"succeeded on {s.node_id}",
                    fields=(*fields, ("progress", _progress_json(done))),
                    expect_attempt=lease.attempt,
                )
                if ok:
                    self._finished(job, "succeeded")
            self.progress.pop(lease.job_id, None)
            return
        error_class = r.error_class or "permanent"
        await self._end_attempt(
            lease.job_id,
            lease.attempt,
            error_class,
            r.error or f"ffmpeg exited with code {r.exit_code}",
            fields=fields,
        )

    # -- transitions -----------------------------------------------------
    async def _change(
        self,
        job: Job,
        expect: frozenset[JobState],
        to: JobState,
        reason: str,
        *,
        expect_attempt: int | None = None,
        node_id: str | None = None,
        attempt: int | None = None,
        fields: tuple[tuple[str, object], ...] = (),
    ) -> bool:
        ok = await self.store.apply(
            Change(
                job.id,
                expect,
                to,
                reason,
                _now_ms(),
                expect_attempt=job.attempt if expect_attempt is None else expect_attempt,
                node_id=node_id,
                attempt=attempt,
                fields=fields,
            )
        )
        if ok:
            self.feed.publish(job.id)
        return ok

    async def _end_attempt(
        self,
        job_id: str,
        attempt: int,
        error_class: str,
        error: str,
        *,
        immediate: bool = False,
        fields: tuple[tuple[str, object], ...] = (),
    ) -> None:
        """An attempt failed or its worker was lost: retry it or fail the job."""
        self.progress.pop(job_id, None)
        if job_id in self._canceled:
            self._canceled.discard(job_id)
            return
        job = await self.store.get_job(job_id)
        if job is None or job.attempt != attempt or not job.state.active:
            return
        if job.node_id:
            self._failed_on.setdefault(job_id, set()).add(job.node_id)
        max_retries = (
            job.spec.max_retries if job.spec.max_retries is not None else self.config.max_retries
        )
        d = decide(
            attempt=attempt - job.retry_base,
            max_retries=max_retries,
            error_class=error_class,
            backoff=self.config.backoff,
            rand=self.rand(),
            immediate=immediate,
        )
        reason = f"{error} ({d.reason})"
        if not d.retry:
            if await self._change(
                job,
                ACTIVE,
                JobState.FAILED,
                reason,
                expect_attempt=attempt,
                fields=(*fields, ("failure_reason", d.reason), ("error", error[:4096])),
            ):
                self._finished(job, "failed")
            return
        if d.delay_s <= 0:
            if await self._change(
                job, ACTIVE, JobState.QUEUED, reason, expect_attempt=attempt, fields=fields
            ):
                self.metrics.jobs_reassigned.inc()
                self.queue.push(job.id, job.spec.queue, job.spec.priority, job.seq)
                self._wake_dispatch.set()
        else:
            due_ms = _now_ms() + int(d.delay_s * 1000)
            if await self._change(
                job,
                ACTIVE,
                JobState.RETRY_WAIT,
                reason,
                expect_attempt=attempt,
                fields=(*fields, ("not_before_ms", due_ms)),
            ):
                self.metrics.retries_scheduled.inc()
                self._retry_at[job.id] = self.clock() + d.delay_s
                self._wake_timers.set()
        self._update_gauges()

    def _finished(self, job: Job, outcome: str) -> None:
        self._failed_on.pop(job.id, None)
        self.metrics.jobs_finished.labels(job.spec.queue, outcome).inc()
        self._update_gauges()

    # -- background loops ------------------------------------------------
    def _free_slots(self) -> dict[str, int]:
        return {
            s.node_id: s.free_slots
            for s in self.nodes.values()
            if s.connected and not s.draining and s.free_slots > 0
        }

    async def _dispatch_loop(self) -> None:
        while True:
            await self._wake_dispatch.wait()
            self._wake_dispatch.clear()
            while await self._dispatch_batch():
                pass

    async def _dispatch_batch(self) -> bool:
        """Assign queued jobs to free slots in one commit; False when nothing moved."""
        picks: list[tuple[NodeSession, str]] = []
        free = self._free_slots()
        while free and (job_id := self.queue.pop()) is not None:
            node_id = choose_node(free, self._failed_on.get(job_id, ()))
            assert node_id is not None
            node = self.nodes[node_id]
            node.leases[job_id] = RESERVED
            picks.append((node, job_id))
            free[node_id] -= 1
            if free[node_id] <= 0:
                del free[node_id]
        if not picks:
            return False
        jobs = await self.store.get_jobs([j for _, j in picks])
        now = _now_ms()
        changes, chosen = [], []
        for node, job_id in picks:
            job = jobs.get(job_id)
            if job is None or job.state != JobState.QUEUED:
                node.leases.pop(job_id, None)
                continue
            changes.append(
                Change(
                    job_id,
                    frozenset({JobState.QUEUED}),
                    JobState.ASSIGNED,
                    f"assigned to {node.node_id}",
                    now,
                    expect_attempt=job.attempt,
                    node_id=node.node_id,
                    attempt=job.attempt + 1,
                )
            )
            chosen.append((node, job))
        results = await self.store.apply_many(changes) if changes else []
        for (node, job), ok in zip(chosen, results, strict=True):
            if not ok:
                node.leases.pop(job.id, None)
                continue
            lease = Lease(job.id, job.attempt + 1)
            node.leases[job.id] = lease.attempt
            node.send(AssignCmd(lease, job.spec))
            if job.id in self._canceled:
                node.send(CancelCmd(lease, "canceled by user"))
            self.feed.publish(job.id)
        self._update_gauges()
        return True

    async def _timer_loop(self) -> None:
        """Loses silent nodes and wakes jobs whose retry backoff is over."""
        timeout = self.config.heartbeat_timeout_s
        while True:
            now = self.clock()
            for s in list(self.nodes.values()):
                if (s.leases or s.connected) and now - s.last_seen >= timeout:
                    await self._lose_node(s)
            for job_id, due in list(self._retry_at.items()):
                if due <= now:
                    del self._retry_at[job_id]
                    await self._requeue_after_backoff(job_id)
            deadlines = [
                s.last_seen + timeout for s in self.nodes.values() if s.leases or s.connected
            ]
            deadlines += list(self._retry_at.values())
            wait = min([self.config.scheduler_interval_s, *(d - now for d in deadlines)])
            self._wake_timers.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake_timers.wait(), max(0.01, wait))

    async def _lose_node(self, s: NodeSession) -> None:
        log.warning(
            "node %s lost: nothing heard for %.1fs; re-queuing %d jobs",
            s.node_id,
            self.clock() - s.last_seen,
            len(s.leases),
        )
        self.metrics.nodes_lost.inc()
        if s.connected:
            s.connected = False
            s.outbox.put_nowait(None)  # close its stream
        leases = [(j, a) for j, a in s.leases.items() if a != RESERVED]
        for job_id, _ in leases:
            del s.leases[job_id]
        for job_id, attempt in leases:
            await self._end_attempt(
                job_id, attempt, "transient", f"node {s.node_id} lost", immediate=True
            )
        self._update_gauges()

    async def _requeue_after_backoff(self, job_id: str) -> None:
        job = await self.store.get_job(job_id)
        if (
            job is not None
            and job.state == JobState.RETRY_WAIT
            and await self._change(
                job, frozenset({JobState.RETRY_WAIT}), JobState.QUEUED, "backoff over"
            )
        ):
            self.queue.push(job.id, job.spec.queue, job.spec.priority, job.seq)
            self._wake_dispatch.set()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        task.add_done_callback(_log_failure)

    def _update_gauges(self) -> None:
        m = self.metrics
        m.queue_depth.set(len(self.queue))
        m.workers_connected.set(sum(1 for s in self.nodes.values() if s.connected))
        m.jobs_running.set(sum(len(s.leases) for s in self.nodes.values()))


def _progress_json(p: ProgressInfo) -> str:
    import json
    from dataclasses import asdict

    return json.dumps(asdict(p))


def _log_failure(task: asyncio.Task[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("background step failed", exc_info=task.exception())
