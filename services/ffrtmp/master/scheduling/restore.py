"""What finished after a backup: learned from the workers, never run again.

A master restored from a backup believes what the backup says: jobs that were
queued or running then, though a worker may have finished them since. Workers
re-offer their most recent results in Hello (acknowledged or not). Each one is
applied when the database is behind it:

* the lease is one the restored database still has running on that worker:
  the result is applied as if it had just arrived;
* the job is queued or waiting to retry at an older attempt: it succeeded
  meanwhile, so it ends SUCCEEDED at the worker's attempt.

Anything else (the usual case, a result the database already holds) changes
nothing. The second rule trusts the worker's word for a run the database never
saw, so it holds only on a master started on a restored file: elsewhere it would
let any worker certificate end a queued job SUCCEEDED that never ran.

So that the reports come before the queue runs, a master that starts on a
restored file (the backup's mark) loads its queued jobs only once every worker
seen around the backup has reconnected, or one heartbeat timeout later.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

from ffrtmp.core.model import AttemptResult, JobState, Lease, Outcome
from ffrtmp.core.s3_output import is_s3_output
from ffrtmp.master.scheduling.attempts import Attempts
from ffrtmp.master.scheduling.state import State
from ffrtmp.master.storage.protocol import Change

log = logging.getLogger("ffrtmp.master.scheduling.restore")

# A blocked job may have been released and run after the backup too.
WAITING = frozenset({JobState.QUEUED, JobState.RETRY_WAIT, JobState.BLOCKED})


class Restore:
    def __init__(self, state: State, attempts: Attempts) -> None:
        self.st = state
        self.attempts = attempts
        self.holding = False  # the queue is not loaded yet (it will be, from the store)
        self.restored = False  # started on a backup: workers may know newer attempts

    async def reported(self, node_id: str, results: Sequence[tuple[Lease, AttemptResult]]) -> None:
        """A connecting worker's recent results (before its leases are reconciled)."""
        st = self.st
        for lease, r in results:
            s = st.nodes.get(node_id)
            if s is not None and s.holds(lease):
                log.info("job %s attempt %d: result learned from %s after a restart",
                         lease.job_id, lease.attempt, node_id)
                await self.attempts.on_result(s, lease, r)
                continue
            if r.outcome != Outcome.SUCCEEDED or not self.restored:
                continue  # a failure the database missed: running it again is allowed
            job = await st.store.get_job(lease.job_id)
            if job is None or job.state not in WAITING or job.attempt >= lease.attempt:
                continue
            if is_s3_output(job.spec.output):
                continue  # its files were never copied to their keys: it runs again
            st.unqueue(job.id)
            # The steps the run took, in one commit: (backoff over,) assigned to
            # the worker at its attempt, succeeded; the history says how it was learnt.
            note = f"on {node_id} (reported after a restore)"
            fields = (("output", r.output[:2048]), ("output_bytes", r.output_bytes),
                      ("log_tail", r.log_tail[-16384:]))
            now, steps = st.now_ms(), []
            if job.state in (JobState.RETRY_WAIT, JobState.BLOCKED):
                why = "backoff over" if job.state == JobState.RETRY_WAIT else "dependencies done"
                steps.append(Change(job.id, frozenset({job.state}), JobState.QUEUED,
                                    why, now, expect_attempt=job.attempt))
            steps += [
                Change(job.id, frozenset({JobState.QUEUED}), JobState.ASSIGNED,
                       f"assigned {note}", now, expect_attempt=job.attempt,
                       node_id=node_id, attempt=lease.attempt),
                Change(job.id, frozenset({JobState.ASSIGNED}), JobState.SUCCEEDED,
                       f"succeeded {note}", now, expect_attempt=lease.attempt, fields=fields),
            ]
            if (await st.apply(steps))[-1] is not None:
                log.warning("job %s finished after the backup on %s: not run again",
                            job.id, node_id)
                st.finished(job, "succeeded")
            elif not self.holding and (moved := await st.store.get_job(job.id)) is not None and (
                moved.state == JobState.QUEUED and moved.id not in st.pending
            ):
                st.enqueue_job(moved)  # it moved meanwhile: back in the queue

    async def hold(
        self, taken_ms: int, load: Callable[[], Awaitable[None]], timeout_s: float
    ) -> None:
        """Load the queue once the workers seen around the backup are back."""
        st = self.st
        self.holding = self.restored = True
        margin = int(timeout_s * 1000)
        expected = [s for s in st.nodes.values() if s.last_seen_ms >= taken_ms - margin]
        log.warning(
            "database restored from a backup: queued jobs wait up to %.0fs for %d workers"
            " to report what finished since", timeout_s, len(expected))
        deadline = st.clock() + timeout_s
        # Polled: a few flags, for one heartbeat timeout at most.
        while st.clock() < deadline and not all(s.connected for s in expected):  # noqa: ASYNC110
            await asyncio.sleep(0.2)
        await load()
        self.holding = False
