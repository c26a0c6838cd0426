"""What workers report about their attempts, and what happens when one ends.

Every report carries a lease; one that is not the job's current attempt is
refused and its worker told to abort. A failed or lost attempt is retried (at
once for a lost node, after a backoff for a transient failure) or ends the job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, replace

from ffrtmp.core.artifacts import check_artifacts
from ffrtmp.core.blobref import attempt_space
from ffrtmp.core.model import ACTIVE, AttemptResult, JobState, Lease, Outcome, ProgressInfo
from ffrtmp.core.retry import LOST, decide
from ffrtmp.master.scheduling.output_commit import OutputCommit
from ffrtmp.master.scheduling.sessions import AbortCmd, NodeSession, ResultAckCmd
from ffrtmp.master.scheduling.state import Fields, State


def _artifact_problem(lease: Lease, r: AttemptResult) -> str:
    """A success whose artifact list is malformed or names blobs outside its own
    attempt's name space is not accepted (its blobs would never be readable)."""
    if r.outcome != Outcome.SUCCEEDED or r.output_info is None:
        return ""
    try:
        check_artifacts(r.output_info.artifacts, attempt_space(lease.job_id, lease.attempt))
    except ValueError as exc:
        return f"worker reported bad artifacts: {exc}"
    return ""


class Attempts:
    def __init__(self, state: State) -> None:
        self.st = state
        self.commits = OutputCommit(state)

    def refuse_stale(self, s: NodeSession, lease: Lease) -> bool:
        if s.holds(lease):
            return False
        self.st.metrics.stale_leases.inc()
        s.send(AbortCmd(lease, "lease is not current"))
        return True

    def check_running(self, s: NodeSession, running: Iterable[Lease]) -> None:
        for lease in running:
            self.refuse_stale(s, lease)

    async def on_started(self, s: NodeSession, lease: Lease) -> None:
        if self.refuse_stale(s, lease) or self.st.is_canceled(lease):
            return
        # No read first: the compare-and-set on (state, attempt) decides.
        await self.st.change_lease(
            lease,
            frozenset({JobState.ASSIGNED}),
            JobState.RUNNING,
            f"ffmpeg started on {s.node_id}",
        )

    def on_progress(self, s: NodeSession, lease: Lease, progress: ProgressInfo) -> None:
        if self.refuse_stale(s, lease):
            return
        self.st.set_progress(lease.job_id, progress)

    async def on_result(self, s: NodeSession, lease: Lease, r: AttemptResult) -> None:
        if self.refuse_stale(s, lease):
            return
        if r.error_class == LOST:
            # Fenced or refused for stale contact (after a stall of this master,
            # say): no Assign until a later heartbeat of its is answered, or it
            # would refuse each one at once and burn the job's lost attempts.
            s.stale_contact = True
        try:
            async with self.commits.lock(lease.job_id):
                await self._apply_result(s, lease, r)
        finally:
            s.send(ResultAckCmd(lease))

    async def _apply_result(self, s: NodeSession, lease: Lease, r: AttemptResult) -> None:
        st = self.st
        del s.leases[lease.job_id]  # the run is over either way: free the slot
        st.freed.add(s.node_id)
        st.wake_dispatch.set()
        if st.settle_canceled(lease):
            st.take_progress(lease.job_id)
            st.feed.publish(lease.job_id)
            return
        problem = _artifact_problem(lease, r)
        if problem:
            r = replace(r, outcome=Outcome.FAILED, error_class="permanent", error=problem)
        r = await self.commits.commit(lease, r)  # s3:// outputs to their final keys
        fields: Fields = (
            ("exit_code", r.exit_code),
            ("error", r.error[:4096]),
            ("log_tail", r.log_tail[-16384:]),
            ("output", r.output[:2048]),
            ("output_bytes", r.output_bytes),
        )
        if r.outcome != Outcome.SUCCEEDED:
            await self.end_attempt(
                lease.job_id,
                lease.attempt,
                r.error_class or "permanent",
                r.error or f"ffmpeg exited with code {r.exit_code}",
                fields=fields,
            )
            return
        p = st.take_progress(lease.job_id) or ProgressInfo()
        done = replace(p, percent=100.0, eta_s=0.0)
        if r.output_info is not None:
            fields = (*fields, ("output_info", json.dumps(asdict(r.output_info))))
        before = await st.change_lease(
            lease,
            ACTIVE,
            JobState.SUCCEEDED,
            f"succeeded on {s.node_id}",
            fields=(*fields, ("progress", json.dumps(asdict(done)))),
        )
        if before is not None:
            st.finished_id(lease.job_id, before.queue, "succeeded")
            await self.commits.forget_uploads(lease.job_id)

    async def end_attempt(
        self,
        job_id: str,
        attempt: int,
        error_class: str,
        error: str,
        *,
        immediate: bool = False,
        fields: Fields = (),
        cause: str = "",
    ) -> None:
        """An attempt failed or was lost (error class LOST; `cause` names how, for
        the metric): retry the job or fail it."""
        st = self.st
        st.take_progress(job_id)
        if st.settle_canceled(Lease(job_id, attempt)):
            return
        job = await st.store.get_job(job_id)
        if job is None or job.attempt != attempt or not job.state.active:
            return
        if job.node_id:
            st.failed_on(job_id, job.node_id)
        max_retries = (
            job.spec.max_retries if job.spec.max_retries is not None else st.config.max_retries
        )
        lost = job.lost_attempts + (error_class == LOST)
        d = decide(
            attempt=attempt - job.retry_base,
            max_retries=max_retries,
            error_class=error_class,
            backoff=st.config.backoff,
            rand=st.rand(),
            immediate=immediate,
            error=error,
            # The job's own previous failure, not one from before a RetryJob by hand.
            previous_error=job.error if attempt - job.retry_base > 1 else "",
            lost_attempts=lost,
            max_lost=st.config.max_lost_attempts,
        )
        if error_class == LOST:
            st.metrics.attempts_lost.labels(cause or "fenced").inc()
            # The budget of max_retries is counted from retry_base: move it past this one.
            fields = (*fields, ("lost_attempts", lost), ("retry_base", job.retry_base + 1))
        reason = f"{error} ({d.reason})"
        if not d.retry:
            if await st.change(
                job,
                ACTIVE,
                JobState.FAILED,
                reason,
                expect_attempt=attempt,
                fields=(*fields, ("failure_reason", d.reason), ("error", error[:4096])),
            ):
                st.finished(job, "failed")
        elif d.delay_s <= 0:
            if await st.change(
                job, ACTIVE, JobState.QUEUED, reason, expect_attempt=attempt, fields=fields
            ):
                st.metrics.jobs_reassigned.inc()
                st.enqueue_job(job)
        else:
            due_ms = st.now_ms() + int(d.delay_s * 1000)
            if await st.change(
                job,
                ACTIVE,
                JobState.RETRY_WAIT,
                reason,
                expect_attempt=attempt,
                fields=(*fields, ("not_before_ms", due_ms)),
            ):
                st.metrics.retries_scheduled.inc()
                st.wait_retry(job.id, d.delay_s)

    async def requeue_after_backoff(self, job_id: str) -> None:
        st = self.st
        job = await st.store.get_job(job_id)
        if (
            job is not None
            and job.state == JobState.RETRY_WAIT
            and await st.change(
                job, frozenset({JobState.RETRY_WAIT}), JobState.QUEUED, "backoff over"
            )
        ):
            st.enqueue_job(job)
