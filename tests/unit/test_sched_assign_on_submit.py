"""Assign-on-submit: a job that an idle worker can run is assigned in its
submit's own commit, and its Assign goes out right after; what already waits
for that worker goes first; a repeated request assigns nothing; a master that
dies between that commit and the Assign leaves an ordinary lease behind.

A worker is idle once a dispatch round found nothing for it (`h.settle()` after
it connects, as the master's own round does at once)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ffrtmp.core.model import Job, JobState, Lease
from ffrtmp.master.scheduling.dispatch import RESERVED
from tests.helpers.sched import SchedHarness

TIMEOUT = 120.0  # the harness's heartbeat timeout
QUEUED, ASSIGNED, RUNNING = JobState.QUEUED, JobState.ASSIGNED, JobState.RUNNING


class Died(Exception):
    """The master process ended here."""


async def test_an_idle_worker_gets_the_job_in_the_submits_own_commit(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        await h.settle()
        commits: list[int] = []
        h.store.on_commit.append(lambda writes, took: commits.append(writes))
        job = await h.submit()
        # No dispatch round ran: the Assign was sent by the submit, after one commit.
        assert len(commits) == 1
        assert (job.state, job.node_id, job.attempt) == (ASSIGNED, "a", 1)
        assert a.assigned() == [Lease(job.id, 1)] and a.s.leases == {job.id: 1}
        assert len(h.scheduler.st.pending) == 0
        stored = await h.job(job.id)
        assert [(e.to_state, e.node_id, e.attempt) for e in stored.events] == [
            (QUEUED, "", 0), (ASSIGNED, "a", 1)]
        assert h.transitions == [(job.id, QUEUED, ASSIGNED)]
        assert not await h.scheduler.dispatcher.dispatch_round()  # nothing left to do
        await a.started(Lease(job.id, 1))
        await a.result(Lease(job.id, 1))
        assert (await h.state(job.id))[0] == JobState.SUCCEEDED


async def test_what_waits_for_the_worker_goes_first(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        await h.settle()
        urgent = await h.submit(priority="high")
        assert a.assigned() == [Lease(urgent.id, 1)]
        b = h.worker("b")
        await h.settle()  # b idle
        a.connect()  # a restarted: its Hello no longer lists `urgent`, which is queued again
        await h.scheduler.st.settle()  # (no dispatch round yet)
        assert (await h.state(urgent.id))[0] == QUEUED
        late = await h.submit(priority="low")
        assert late.state == QUEUED  # not ahead of `urgent`, which b could run
        assert b.assigned() == []
        await h.settle()
        assert b.assigned() == [Lease(urgent.id, 2)]  # (it failed on a: it goes elsewhere)
        assert a.assigned()[-1] == Lease(late.id, 1)


async def test_a_queued_job_the_worker_cannot_run_does_not_hold_it_back(
    tmp_path: Path,
) -> None:
    async with SchedHarness(tmp_path) as h:
        hevc = await h.submit(codec="libx265", priority="high")  # b has no HEVC encoder
        b = h.worker("b")
        await h.settle()
        job = await h.submit()
        assert b.assigned() == [Lease(job.id, 1)]
        assert (await h.state(hevc.id)) == (QUEUED, "", 0)


async def test_an_empty_worker_first_and_a_full_one_never(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        b = h.worker("b", slots=2)
        await h.settle()
        first = await h.submit()
        second = await h.submit()  # the worker that took `first` is not empty any more
        assert {first.node_id, second.node_id} == {"a", "b"}
        third = await h.submit()
        assert third.node_id == "b"
        assert len(a.assigned()) == 1 and len(b.assigned()) == 2
        fourth = await h.submit()  # every slot taken: it waits in the queue
        assert fourth.state == QUEUED and len(h.scheduler.st.pending) == 1


async def test_a_repeated_request_assigns_nothing(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a", slots=2)
        await h.settle()
        job = await h.submit(request_id="r1")
        again = await h.submit(request_id="r1")
        assert again.id == job.id and (again.state, again.attempt) == (ASSIGNED, 1)
        assert a.assigned() == [Lease(job.id, 1)]
        assert a.s.leases == {job.id: 1} and a.s.free_slots == 1  # no slot kept reserved
        assert len((await h.job(job.id)).events) == 2
        other = await h.submit()
        assert a.assigned() == [Lease(job.id, 1), Lease(other.id, 1)]


async def test_a_failed_commit_frees_the_reserved_slot(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        await h.settle()

        async def refuse(job: Job) -> None:
            raise OSError("disk full")

        h.store.after_insert.append(refuse)
        with pytest.raises(OSError):
            await h.submit()
        assert RESERVED not in a.s.leases.values() and a.s.free_slots == 1
        job = await h.submit()
        assert a.assigned() == [Lease(job.id, 1)]


async def _died_after_commit(h: SchedHarness) -> str:
    """A submit whose assignment committed; the master dies before the Assign."""
    h.worker("a")
    await h.settle()
    ids: list[str] = []

    async def die(job: Job) -> None:
        ids.append(job.id)
        raise Died

    h.store.after_insert.append(die)
    with pytest.raises(Died):
        await h.submit()
    assert h.workers["a"].assigned() == []
    return ids[0]


async def test_death_before_the_assign_the_workers_hello_resolves_it(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        job_id = await _died_after_commit(h)
    async with SchedHarness(tmp_path) as h:  # the master restarts on the same store
        assert (await h.state(job_id)) == (ASSIGNED, "a", 1)  # a lease awaiting its worker
        assert h.scheduler.st.nodes["a"].leases == {job_id: 1}
        a = h.worker("a")  # its Hello lists no lease: attempt 1 never ran
        await h.settle()
        assert a.assigned() == [Lease(job_id, 2)]
        await a.started(Lease(job_id, 2))
        assert (await h.state(job_id)) == (RUNNING, "a", 2)
        job = await h.job(job_id)
        assert [e.attempt for e in job.events if e.to_state == ASSIGNED] == [1, 2]
        assert job.lost_attempts == 1  # lost to the infrastructure, not its own failure


async def test_death_before_the_assign_the_timeout_resolves_it(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        job_id = await _died_after_commit(h)
    async with SchedHarness(tmp_path) as h:
        b = h.worker("b")
        await h.tick(TIMEOUT - 1, beating=["b"])
        assert b.assigned() == []  # a may still come back with it
        await h.tick(1, beating=["b"])
        assert b.assigned() == [Lease(job_id, 2)]
        assert (await h.state(job_id)) == (ASSIGNED, "b", 2)


async def test_a_drain_while_the_submit_commits_lets_the_assignment_stand(
    tmp_path: Path,
) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a", slots=2)
        await h.settle()

        async def drain(job: Job) -> None:
            await h.scheduler.drain("a", True)

        h.store.after_insert.append(drain)
        first = await h.submit()
        # Chosen and committed before the drain: it stands, as a dispatch round's would.
        assert a.assigned() == [Lease(first.id, 1)]
        second = await h.submit()
        assert second.state == QUEUED and len(a.assigned()) == 1


async def test_a_worker_not_yet_seen_idle_by_a_round_gets_it_from_the_queue(
    tmp_path: Path,
) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")  # no round has run since it connected
        job = await h.submit()
        assert job.state == QUEUED and a.assigned() == []
        await h.settle()
        assert a.assigned() == [Lease(job.id, 1)]
        await a.started(Lease(job.id, 1))
        await a.result(Lease(job.id, 1))  # its slot is free; the round after finds it idle
        second = await h.submit()
        assert a.assigned()[-1] == Lease(second.id, 1) and second.state == ASSIGNED


@pytest.mark.parametrize("idle", [True, False])
async def test_a_caller_gone_during_the_commit_leaves_nothing_half_done(
    tmp_path: Path, idle: bool,
) -> None:
    """grpc cancels a handler whose client went away; the commit lands anyway,
    and what follows it must happen: the Assign sent, or the job queued."""
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        await (h.settle() if idle else h.scheduler.st.settle())  # (no round: not idle)
        task = asyncio.ensure_future(h.submit())
        h.store.on_commit.append(lambda writes, took: task.cancel())
        with pytest.raises(asyncio.CancelledError):
            await task
        h.store.on_commit.clear()
        for _ in range(5):
            await asyncio.sleep(0)
        [job] = await h.scheduler.list_jobs()
        if idle:
            assert job.state == ASSIGNED and a.assigned() == [Lease(job.id, 1)]
        else:
            assert job.state == QUEUED and job.id in h.scheduler.st.pending
            await h.settle()
            assert a.assigned() == [Lease(job.id, 1)]


async def test_a_worker_whose_job_ended_with_nothing_queued_is_idle_again(
    tmp_path: Path,
) -> None:
    # A round with nothing queued returns without walking the workers (a fleet's
    # connects); the worker that just freed its slot must still count as idle.
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        await h.settle()
        first = await h.submit()
        assert first.state == ASSIGNED
        await a.started(Lease(first.id, 1))
        await a.result(Lease(first.id, 1))
        await h.settle()
        second = await h.submit()
        assert (second.state, second.node_id) == (ASSIGNED, "a")
        assert a.assigned()[-1] == Lease(second.id, 1)
