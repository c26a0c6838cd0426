"""What workers report about their attempts, and what happens when one ends.

Every report carries a lease; one that is not the job's current attempt is
refused and its worker told to abort. A failed or lost attempt is retried (at
once for a lost node, after a backoff for a transient failure) or ends the job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, replace
from dataclasses import fields as dc_fields

from ffrtmp.core.artifacts import check_artifacts
from ffrtmp.core.blobref import attempt_space
from ffrtmp.core.model import (
    ACTIVE,
    AttemptResult,
    Job,
    JobState,
    Lease,
    Outcome,
    ProgressInfo,
)
from ffrtmp.core.retry import LOST, Decision, decide
from ffrtmp.master.scheduling.output_commit import OutputCommit
from ffrtmp.master.scheduling.sessions import AbortCmd, NodeSession, ResultAckCmd
from ffrtmp.master.scheduling.state import Fields, State
from ffrtmp.master.storage.protocol import Change, StoreError

_PROGRESS = tuple(f.name for f in dc_fields(ProgressInfo))


def _progress_json(p: ProgressInfo) -> str:
    """What json.dumps(asdict(p)) gives for this flat record, without asdict's
    deep copy (one per finished job)."""
    return json.dumps({name: getattr(p, name) for name in _PROGRESS})


@dataclass(frozen=True)
class Ended:
    """An attempt that failed or was lost, to be retried or failed."""

    job_id: str
    attempt: int
    error_class: str
    error: str
    immediate: bool = False
    fields: Fields = ()
    cause: str = ""


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
        except StoreError:
            # Not committed (or not known to be): no acknowledgement, so the
            # worker keeps the result and offers it again on its next stream,
            # and the lease stays the node's so that the offer is taken.
            s.leases.setdefault(lease.job_id, lease.attempt)
            raise
        except BaseException:
            s.send(ResultAckCmd(lease))  # a result that cannot be applied is not offered forever
            raise
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
            fields=(*fields, ("progress", _progress_json(done))),
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
        ended = Ended(job_id, attempt, error_class, error, immediate, fields, cause)
        await self.end_attempts([ended])

    async def end_attempts(self, ended: Sequence[Ended]) -> None:
        """Attempts ended together (every lease of the nodes lost in one sweep):
        one read and one commit for all of them, so a slow commit holds them up
        once, not once each."""
        st = self.st
        ended = [e for e in ended if not self._settled(e)]
        jobs = await st.store.get_jobs([e.job_id for e in ended])
        plans: list[tuple[Job, Change, Decision]] = []
        for e in ended:
            job = jobs.get(e.job_id)
            if job is None or job.attempt != e.attempt or not job.state.active:
                continue
            change, d = self._plan(job, e)
            plans.append((job, change, d))
        applied = await st.apply([change for _, change, _ in plans])
        for (job, change, d), before in zip(plans, applied, strict=True):
            if before is None:
                continue
            if change.to_state == JobState.FAILED:
                st.finished(job, "failed")
            elif change.to_state == JobState.QUEUED:
                st.metrics.jobs_reassigned.inc()
                st.enqueue_job(job)
            else:
                st.metrics.retries_scheduled.inc()
                st.wait_retry(job.id, d.delay_s)

    def _settled(self, e: Ended) -> bool:
        self.st.take_progress(e.job_id)
        return self.st.settle_canceled(Lease(e.job_id, e.attempt))

    def _plan(self, job: Job, e: Ended) -> tuple[Change, Decision]:
        """The change that retries the job or fails it (not yet committed)."""
        st, attempt, fields = self.st, e.attempt, e.fields
        if job.node_id:
            st.failed_on(job.id, job.node_id)
        max_retries = (
            job.spec.max_retries if job.spec.max_retries is not None else st.config.max_retries
        )
        lost = job.lost_attempts + (e.error_class == LOST)
        d = decide(
            attempt=attempt - job.retry_base,
            max_retries=max_retries,
            error_class=e.error_class,
            backoff=st.config.backoff,
            rand=st.rand(),
            immediate=e.immediate,
            error=e.error,
            # The job's own previous failure, not one from before a RetryJob by hand.
            previous_error=job.error if attempt - job.retry_base > 1 else "",
            lost_attempts=lost,
            max_lost=st.config.max_lost_attempts,
        )
        if e.error_class == LOST:
            st.metrics.attempts_lost.labels(e.cause or "fenced").inc()
            # The budget of max_retries is counted from retry_base: move it past this one.
            fields = (*fields, ("lost_attempts", lost), ("retry_base", job.retry_base + 1))
        reason = f"{e.error} ({d.reason})"
        if not d.retry:
            to = JobState.FAILED
            fields = (*fields, ("failure_reason", d.reason), ("error", e.error[:4096]))
        elif d.delay_s <= 0:
            to = JobState.QUEUED
        else:
            to = JobState.RETRY_WAIT
            fields = (*fields, ("not_before_ms", st.now_ms() + int(d.delay_s * 1000)))
        change = Change(
            job.id, ACTIVE, to, reason, st.now_ms(), expect_attempt=attempt, fields=fields
        )
        return change, d

    async def requeue_after_backoff(self, *job_ids: str) -> None:
        """Jobs whose backoff is over back to the queue (those due together in
        one read and one commit)."""
        st = self.st
        jobs = await st.store.get_jobs(job_ids)
        waiting = [
            j for i in job_ids if (j := jobs.get(i)) is not None and j.state == JobState.RETRY_WAIT
        ]
        now = st.now_ms()
        changes = [
            Change(j.id, frozenset({JobState.RETRY_WAIT}), JobState.QUEUED, "backoff over", now,
                   expect_attempt=j.attempt)
            for j in waiting
        ]
        for job, before in zip(waiting, await st.apply(changes), strict=True):
            if before is not None:
                st.enqueue_job(job)
