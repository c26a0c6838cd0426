"""Cancel at every stage of a job's life, on the in-process scheduler."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ffrtmp.core.model import JobState, Lease, Outcome
from ffrtmp.master.scheduling.sessions import PauseCmd, ResultAckCmd
from ffrtmp.master.storage.protocol import Change
from tests.helpers.sched import SchedHarness

CANCELED = JobState.CANCELED


async def test_cancel_queued_never_reaches_a_worker(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        job = await h.submit()
        await h.scheduler.cancel(job.id)
        a = h.worker("a")
        await h.settle()
        assert a.assigned() == [] and (await h.state(job.id)) == (CANCELED, "", 0)
        assert h.metric("ffrtmp_jobs_finished_total", {"queue": "default",
                                                        "outcome": "canceled"}) == 1


async def test_cancel_while_its_assignment_commits_sends_nothing(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        job = await h.submit()  # queued: the dispatcher assigns it
        a = h.worker("a")

        async def cancel_first(changes: Sequence[Change]) -> None:
            await h.scheduler.cancel(job.id)

        h.store.before_apply.append(cancel_first)
        await h.settle()
        # The cancel committed first; the assignment's compare-and-set then failed.
        assert a.assigned() == [] and (await h.state(job.id))[0] == CANCELED
        assert a.s.leases == {} and a.s.free_slots == 1


async def test_cancel_assigned_not_started(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        [lease] = a.assigned()
        await h.scheduler.cancel(job.id)
        assert a.canceled() == [lease]
        await a.started(lease)  # the worker had started before the Cancel arrived
        assert (await h.state(job.id))[0] == CANCELED
        await a.result(lease, Outcome.CANCELED)
        assert (await h.state(job.id))[0] == CANCELED
        assert a.s.free_slots == 1 and a.of(ResultAckCmd)


async def test_cancel_running_ignores_the_runs_late_failure(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        [lease] = a.assigned()
        await a.started(lease)
        await h.scheduler.cancel(job.id, "enough")
        assert a.canceled() == [lease]
        await a.result(lease, Outcome.FAILED, exit_code=255, error_class="transient",
                       error="killed")
        done = await h.job(job.id)
        assert done.state == CANCELED and done.error == "" and done.attempt == 1
        assert [e.reason for e in done.events][-1] == "enough"
        # The freed slot takes the next job, not a retry of the canceled one.
        nxt = await h.submit()
        await h.settle()
        assert a.assigned()[-1] == Lease(nxt.id, 1)


async def test_cancel_paused(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        [lease] = a.assigned()
        await a.started(lease)
        await h.scheduler.pause(job.id, True)
        assert a.of(PauseCmd) == [PauseCmd(lease, True)]
        await h.scheduler.cancel(job.id)
        assert a.canceled() == [lease] and (await h.state(job.id))[0] == CANCELED
        await a.result(lease, Outcome.CANCELED)
        assert a.s.free_slots == 1


async def test_cancel_reaches_a_worker_that_was_away(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        [lease] = a.assigned()
        await a.started(lease)
        a.disconnect()
        await h.scheduler.cancel(job.id)
        a.connect(running=[lease])  # back within the timeout, still running it
        assert a.keep == [lease] and lease in a.canceled()
        await a.result(lease, Outcome.CANCELED)
        assert (await h.state(job.id))[0] == CANCELED and a.s.free_slots == 1


async def test_a_job_retried_after_a_cancel_runs_on_its_new_attempt(tmp_path: Path) -> None:
    """A cancel belongs to the attempt it stopped: retrying the job by hand while
    the canceled run has not reported back must not cancel the new attempt."""
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        [old] = a.assigned()
        await a.started(old)
        await h.scheduler.cancel(job.id)
        a.disconnect()  # gone before its canceled run reported anything
        await h.scheduler.retry(job.id)
        b = h.worker("b")
        await h.settle()
        [new] = b.assigned()
        assert new == Lease(job.id, 2) and b.canceled() == []
        await b.started(new)
        assert (await h.state(job.id)) == (JobState.RUNNING, "b", 2)
        await b.result(new)
        assert (await h.state(job.id)) == (JobState.SUCCEEDED, "b", 2)
        a.connect(running=[old])  # the old run, back at last, is told again to stop
        assert old in a.canceled()
        await a.result(old, Outcome.CANCELED)
        assert (await h.state(job.id)) == (JobState.SUCCEEDED, "b", 2)
