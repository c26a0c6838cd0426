"""The scheduler: what clients ask of jobs and nodes, and the parts that do the
rest, built and started together.

The store is the truth; the heaps and the lease map are rebuilt from it at
start. Each transition is a compare-and-set in the store, so a stale lease can
never overwrite a newer attempt. The parts, sharing one `State`: `dispatcher`
(queued jobs to free slots), `attempts` (what workers report), `liveness`
(workers coming, going and being lost). The worker servicer calls the last two
directly.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator, Iterable, Sequence

from ffrtmp.core.authz import SYSTEM, Actor, check_job_access
from ffrtmp.core.errors import FailedPrecondition, NotFound, Unavailable
from ffrtmp.core.graph import group_progress
from ffrtmp.core.model import ACTIVE, Job, JobState
from ffrtmp.core.spec import RawSpec
from ffrtmp.lifecycle import Service
from ffrtmp.master.scheduling.attempts import Attempts
from ffrtmp.master.scheduling.blob_leases import BlobLeases
from ffrtmp.master.scheduling.control import Control
from ffrtmp.master.scheduling.dispatch import Dispatcher
from ffrtmp.master.scheduling.graph import Graph
from ffrtmp.master.scheduling.intake import Intake
from ffrtmp.master.scheduling.liveness import Liveness
from ffrtmp.master.scheduling.restore import Restore
from ffrtmp.master.scheduling.sessions import NodeSession, PauseCmd
from ffrtmp.master.scheduling.state import State
from ffrtmp.master.scheduling.stats import QueueStats, queue_stats

log = logging.getLogger(__name__)


class Scheduler(Service):
    def __init__(self, st: State) -> None:
        """`st` holds the store and config and the injected time, randomness
        (retry jitter) and trace context put in Assign (its Sources): tests
        drive them, tracing supplies the last."""
        super().__init__("scheduler", log)
        self.config = st.config
        self.st = st
        self.attempts = Attempts(self.st)
        self.dispatcher = Dispatcher(self.st)
        self.liveness = Liveness(self.st, self.attempts)
        self.restore = Restore(self.st, self.attempts)
        self.blob_leases = BlobLeases(self.st)  # the blob service's worker check
        self.graph = Graph(self.st)
        self.control = Control(self.st, self.graph)
        self.intake = Intake(self.st, self.graph, self.dispatcher)

    # -- lifecycle -------------------------------------------------------
    async def start(self, restored_ms: int | None = None) -> None:
        """`restored_ms`: the database is a backup taken then, so the queue waits
        for the workers' reports of what finished since (see restore.py)."""
        await self.load(hold_queue=restored_ms is not None)
        self.background.start(self.dispatcher.run(), "dispatch")
        self.background.start(self.liveness.run_timers(), "timers")
        if restored_ms is not None:
            self.restore.restored = True  # before any worker's Hello is read
            timeout = self.config.heartbeat_timeout_s
            hold = self.restore.hold(restored_ms, self._load_waiting, timeout)
            self.background.start(hold, "restore-hold")

    async def load(self, *, hold_queue: bool = False) -> None:
        """Rebuild the heaps, sessions and timers from the store."""
        st = self.st
        await self.graph.load()
        for n in await st.store.known_nodes():
            s = st.session(n.node_id)
            s.capabilities, s.address, s.last_seen_ms = n.capabilities, n.address, n.last_seen_ms
            s.drained = n.drained
        if not hold_queue:
            await self._load_waiting()
        now = st.clock()
        for job in await st.store.jobs_in_states(ACTIVE):
            # Leases from before the restart: their workers get one heartbeat
            # timeout to come back and re-offer them.
            s = st.session(job.node_id)
            s.last_seen = now
            s.leases[job.id] = job.attempt
        log.info(
            "scheduler started: %d queued, %d leases awaiting their workers",
            len(st.pending),
            sum(len(s.leases) for s in st.nodes.values()),
        )

    async def _load_waiting(self) -> None:
        """Queued jobs into the heaps; timers for those waiting out a backoff."""
        st = self.st
        # A million queued jobs are millions of new objects, none of which can form
        # a cycle: the cyclic collector would run hundreds of times for nothing.
        collecting = gc.isenabled()
        gc.disable()
        try:
            st.load_queued(await st.store.queued_keys())
            # What was just loaded stays for a while: keep the collector's full
            # passes from walking it again and again.
            gc.freeze()
        finally:
            if collecting:
                gc.enable()
        now_ms = st.now_ms()
        for job in await st.store.jobs_in_states({JobState.RETRY_WAIT}):
            st.wait_retry(job.id, max(0, job.not_before_ms - now_ms) / 1000)
        await self.graph.judge_all()

    def stop_intake(self) -> None:
        self.st.accepting = False

    async def stop(self) -> None:
        self.stop_intake()
        await super().stop()
        for s in self.st.nodes.values():
            if s.connected:
                s.outbox.put_nowait(None)

    # -- client operations -----------------------------------------------
    async def submit(
        self,
        raw: RawSpec,
        request_id: str = "",
        actor: Actor = SYSTEM,
        depends_on: Sequence[str] = (),
    ) -> tuple[Job, bool]:
        """A new job, BLOCKED until every job in `depends_on` (the submitter's
        own) has SUCCEEDED."""
        return await self.intake.submit(raw, request_id, actor, depends_on)

    async def get(self, job_id: str, *, with_events: bool = True) -> Job:
        job = await self.st.store.get_job(job_id, with_events=with_events)
        if job is None:
            raise NotFound(f"job {job_id[:64]!r} not found")
        return self._decorate(job)

    def _decorate(self, job: Job) -> Job:
        p = self.st.progress(job.id)
        if p is not None and job.state.active:
            job.progress = p
        return job

    async def get_tree(self, job_id: str) -> Job:
        """A job with its events; a group with its children and their progress."""
        job = await self.get(job_id)
        if job.group:
            job.children = [self._decorate(c) for c in await self.st.store.children(job.id)]
            if not job.state.terminal or job.state == JobState.SUCCEEDED:
                job.progress = group_progress(job.children, self.st.now_ms())
        return job

    async def list_jobs(
        self,
        *,
        states: Iterable[JobState] = (),
        queue: str = "",
        node_id: str = "",
        before_seq: int | None = None,
        limit: int = 100,
    ) -> list[Job]:
        jobs = await self.st.store.list_jobs(
            states=states, queue=queue, node_id=node_id, before_seq=before_seq, limit=limit
        )
        return [self._decorate(j) for j in jobs]

    async def _audit(self, actor: Actor, action: str, target: str, detail: str = "") -> None:
        await self.st.store.audit(
            self.st.now_ms(), actor.name, actor.role or actor.kind, action, target, detail
        )

    async def logs(self, job_id: str, actor: Actor = SYSTEM) -> Job:
        job = await self.get(job_id, with_events=False)
        check_job_access(actor, job.owner, job.id)
        return job

    async def cancel(self, job_id: str, reason: str = "", actor: Actor = SYSTEM) -> Job:
        """A group is canceled with its unfinished children."""
        reason = reason or f"canceled by {actor.name}"
        for _ in range(5):  # the job may move while we look at it
            job = await self.get(job_id, with_events=False)
            check_job_access(actor, job.owner, job.id)
            if await self.control.cancel(job, reason):
                await self._audit(actor, "job.cancel", job_id, reason)
                return await self.get(job_id)
        raise Unavailable("the job kept changing state; try again")

    async def retry(self, job_id: str, reason: str = "", actor: Actor = SYSTEM) -> Job:
        """A FAILED or CANCELED job goes back to its queue (or waits again for its
        dependencies) with a fresh retry budget; a group's child retries its group."""
        job = await self.get(job_id, with_events=False)
        check_job_access(actor, job.owner, job.id)
        retried = await self.control.retry(job, reason or "retried by user")
        await self._audit(actor, "job.retry", retried.id, reason)
        return await self.get(job_id)

    async def pause(self, job_id: str, pause: bool, actor: Actor = SYSTEM) -> Job:
        """SIGSTOP (or SIGCONT) a running job's ffmpeg; the lease stays."""
        st = self.st
        src, dst = (
            (JobState.RUNNING, JobState.PAUSED) if pause else (JobState.PAUSED, JobState.RUNNING)
        )
        job = await self.get(job_id, with_events=False)
        check_job_access(actor, job.owner, job.id)
        if job.state != src:
            verb = "paused" if pause else "resumed"
            raise FailedPrecondition(f"job is {job.state.name}; only {src.name} jobs can be {verb}")
        s = st.nodes.get(job.node_id)
        if s is None or not s.connected or not s.holds(job.lease):
            raise Unavailable(f"node {job.node_id!r} is not connected; try again")
        if not await st.change(
            job, frozenset({src}), dst, "paused by user" if pause else "resumed by user"
        ):
            raise Unavailable("the job changed state meanwhile; try again")
        s.send(PauseCmd(job.lease, pause))
        await self._audit(actor, "job.pause" if pause else "job.resume", job_id)
        return await self.get(job_id)

    async def watch(self, job_id: str) -> AsyncIterator[Job]:
        """The job now, then after every change, until it is terminal; a group
        with its children, after a change of any of them."""
        first = await self.get_tree(job_id)
        ids = [job_id, *(c.id for c in first.children)]
        async with self.st.feed.subscribe(*ids) as changed:
            while True:
                changed.clear()
                job = await self.get_tree(job_id)
                yield job
                if job.state.terminal:
                    return
                await changed.wait()

    def stats(self) -> QueueStats:
        return queue_stats(self.st)

    # -- nodes -------------------------------------------------------------
    async def drain(self, node_id: str, drained: bool, actor: Actor = SYSTEM) -> NodeSession:
        node = await self.liveness.set_drained(node_id, drained)
        await self._audit(actor, "node.drain" if drained else "node.undrain", node_id)
        return node
