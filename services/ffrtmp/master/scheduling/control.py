"""Cancel and retry by hand, groups whole: canceling a group cancels its
unfinished children in the same commit; retrying a group (or any of its
children) brings back its failed and canceled children — the ones that
succeeded are never run again — and blocks each on what it still waits for."""

from __future__ import annotations

from ffrtmp.core.errors import FailedPrecondition, NotFound, Unavailable
from ffrtmp.core.graph import start_state
from ffrtmp.core.model import Job, JobState
from ffrtmp.core.states import check_cancelable
from ffrtmp.master.scheduling.graph import Graph
from ffrtmp.master.scheduling.state import State
from ffrtmp.master.storage.protocol import Change

ENDED = frozenset({JobState.FAILED, JobState.CANCELED})


class Control:
    def __init__(self, state: State, graph: Graph) -> None:
        self.st = state
        self.graph = graph

    async def _get(self, job_id: str) -> Job:
        job = await self.st.store.get_job(job_id)
        if job is None:
            raise NotFound(f"job {job_id[:64]!r} not found")
        return job

    async def cancel(self, job: Job, reason: str) -> bool:
        """One try; False when the job moved meanwhile."""
        check_cancelable(job.state)
        children = await self.st.store.children(job.id) if job.group else []
        first = self.graph.cancel_change(job, reason)
        return await self.graph.end(job, first, children, reason)

    async def retry(self, job: Job, reason: str) -> Job:
        """Returns the job actually retried: a child's group when it has one."""
        st = self.st
        if job.parent_id:
            job = await self._get(job.parent_id)
        if job.state not in ENDED:
            raise FailedPrecondition(
                f"job is {job.state.name}; only FAILED or CANCELED jobs can be retried"
            )
        family = await st.store.children(job.id) if job.group else []
        back = [job, *(c for c in family if c.state in ENDED)]
        coming = {j.id for j in back}
        deps_of = {d for j in back for d in j.depends_on if d not in coming}
        known = await st.store.get_jobs(sorted(deps_of))
        now = st.now_ms()
        changes, targets = [], []
        for j in back:
            states = {
                d: JobState.BLOCKED if d in coming else (known[d].state if d in known else None)
                for d in j.depends_on
            }
            if any(s is None for s in states.values()):
                raise FailedPrecondition(f"a job {j.id} depends on no longer exists")
            try:
                to = JobState.BLOCKED if j.group else start_state(
                    {d: s for d, s in states.items() if s is not None}
                )
            except FailedPrecondition as exc:
                raise FailedPrecondition(f"{exc}: retry it first") from None
            targets.append((j, to))
            changes.append(
                Change(
                    j.id, frozenset({j.state}), to, reason, now, expect_attempt=j.attempt,
                    fields=(("retry_base", j.attempt), ("failure_reason", ""), ("error", "")),
                )
            )
        applied = await st.apply(changes)
        if applied[0] is None:
            raise Unavailable("the job changed state meanwhile; try again")
        for (j, to), before in zip(targets, applied, strict=True):
            if before is None:
                continue
            st.forget_failures(j.id)
            if to == JobState.QUEUED:
                st.enqueue_job(j)
            else:
                self.graph.track(j)
        for j, to in targets:
            if to == JobState.BLOCKED:
                await self.graph.judge(j.id)
        return job
