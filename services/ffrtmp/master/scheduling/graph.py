"""Jobs that wait for others, and groups (a split's parent): the scheduler's
side of core/graph.py.

Event-driven: the store's observers report every committed change; when a job
that others wait for ends, a step re-reads what those wait for and applies the
verdict. Nothing polls. The map of who waits for whom lives in memory and is
rebuilt from the BLOCKED rows at start, and every blocked job is judged again
then, so a crash between a child's success and its dependents' release loses
nothing. A group that ends other than SUCCEEDED cancels its unfinished children
in the same commit.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict

from ffrtmp.core.graph import verdict
from ffrtmp.core.model import ACTIVE, TERMINAL, Job, JobState
from ffrtmp.master.scheduling.sessions import CancelCmd
from ffrtmp.master.scheduling.state import Fields, State
from ffrtmp.master.storage.protocol import Before, Change

WAITING = frozenset({JobState.QUEUED, JobState.RETRY_WAIT})
BLOCKED = frozenset({JobState.BLOCKED})


def _result_of(last: Job) -> Fields:
    """A group's result is its last child's: what `jobs get` shows as its output
    and `jobs fetch` downloads."""
    info = json.dumps(asdict(last.output_info)) if last.output_info is not None else ""
    return (("output", last.output), ("output_bytes", last.output_bytes), ("output_info", info))


class Graph:
    def __init__(self, state: State) -> None:
        self.st = state
        self._waits: dict[str, tuple[tuple[str, ...], bool]] = {}  # blocked -> (deps, group)
        self._dependents: dict[str, set[str]] = {}  # job -> blocked jobs waiting for it
        state.store.observers.append(self._observed)

    # -- the map -----------------------------------------------------------
    def track(self, job: Job) -> None:
        self._waits[job.id] = (job.depends_on, job.group)
        for dep in job.depends_on:
            self._dependents.setdefault(dep, set()).add(job.id)

    def untrack(self, job_id: str) -> None:
        deps, _ = self._waits.pop(job_id, ((), False))
        for dep in deps:
            waiting = self._dependents.get(dep)
            if waiting is not None:
                waiting.discard(job_id)
                if not waiting:
                    del self._dependents[dep]

    @property
    def blocked(self) -> int:
        return len(self._waits)

    async def load(self) -> None:
        """Start-up: every BLOCKED job tracked (judged with the queue's load, see
        judge_all: after a restore from backup, only once the workers have said
        what finished since)."""
        for job in await self.st.store.jobs_in_states(BLOCKED):
            self.track(job)

    async def judge_all(self) -> None:
        """Every blocked job judged: its dependencies may have ended just before
        the restart."""
        for job_id in sorted(self._waits):
            await self.judge(job_id)

    def _observed(self, b: Before, to: JobState, at_ms: int, node: str, attempt: int) -> None:
        if to in TERMINAL and b.job_id in self._dependents:
            self.st.spawn(self._release(b.job_id))

    async def _release(self, dep_id: str) -> None:
        for job_id in sorted(self._dependents.get(dep_id, ())):
            await self.judge(job_id)

    # -- verdicts ------------------------------------------------------------
    async def judge(self, job_id: str) -> None:
        """Apply the verdict on one blocked job, if its dependencies have one."""
        st = self.st
        if job_id not in self._waits:
            return
        deps, group = self._waits[job_id]
        found = await st.store.get_jobs([job_id, *deps])
        job = found.get(job_id)
        if job is None or job.state != JobState.BLOCKED:
            self.untrack(job_id)
            return
        v = verdict(group, {d: found[d].state if d in found else None for d in deps})
        if v is None:
            return
        if v.to == JobState.QUEUED:
            if await st.change(job, BLOCKED, JobState.QUEUED, v.reason):
                self.untrack(job_id)
                st.enqueue_job(job)
            return
        fields: Fields = (("failure_reason", v.reason),) if v.to == JobState.FAILED else ()
        if group and v.to == JobState.SUCCEEDED and deps:
            fields = _result_of(found[deps[-1]])  # a split's join: the group's output
        first = Change(job.id, BLOCKED, v.to, v.reason, st.now_ms(), expect_attempt=job.attempt,
                       fields=fields)
        children = await st.store.children(job.id) if group and v.to != JobState.SUCCEEDED else []
        done = await self.end(job, first, children, f"group {job.id} {v.to.name.lower()}")
        if done and v.to != JobState.CANCELED:
            st.finished(job, v.to.name.lower())

    async def end(self, job: Job, first: Change, others: Sequence[Job], reason: str) -> bool:
        """Commit `first` (the job's own change) with the cancellation of every
        unfinished job in `others`, in one transaction; True if `first` applied."""
        st = self.st
        targets = [o for o in others if not o.state.terminal]
        changes = [first, *(self.cancel_change(o, reason) for o in targets)]
        applied = await st.apply(changes)
        if applied[0] is None:
            return False
        if first.to_state == JobState.CANCELED:
            self.canceled(job, first.reason)
        else:
            self.untrack(job.id)
        for other, before in zip(targets, applied[1:], strict=True):
            if before is not None:
                self.canceled(other, reason)
        return True

    def cancel_change(self, job: Job, reason: str) -> Change:
        fields = self.st.progress_fields(job.id) if job.state.active else ()
        expect = ACTIVE if job.state.active else frozenset({job.state})
        return Change(job.id, expect, JobState.CANCELED, reason, self.st.now_ms(),
                      expect_attempt=job.attempt, fields=fields)

    def canceled(self, job: Job, reason: str) -> None:
        """After a committed cancel: out of the heaps and the map, its run stopped."""
        st = self.st
        self.untrack(job.id)
        if job.state in WAITING:
            st.unqueue(job.id)
        elif job.state.active:
            self._stop(job, reason)
        st.finished(job, "canceled")

    def _stop(self, job: Job, reason: str) -> None:
        st = self.st
        st.mark_canceled(job.lease)
        s = st.nodes.get(job.node_id)
        if s is not None and s.holds(job.lease):
            s.send(CancelCmd(job.lease, reason))
