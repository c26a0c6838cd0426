"""Leases against time: silent workers, results that arrive too late, stale
attempts, drains and restarts, on the in-process scheduler with a fake clock."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from ffrtmp.core.model import JobState, Lease, Outcome
from ffrtmp.master.scheduling.sessions import DrainCmd
from ffrtmp.master.storage.protocol import Change
from tests.helpers.sched import SchedHarness

TIMEOUT = 120.0  # the harness's heartbeat timeout
RUNNING, SUCCEEDED = JobState.RUNNING, JobState.SUCCEEDED


async def _running(h: SchedHarness, node: str) -> tuple[str, Lease]:
    job = await h.submit()
    await h.settle()
    lease = h.workers[node].assigned()[-1]
    await h.workers[node].started(lease)
    return job.id, lease


async def test_heartbeats_keep_a_lease_silence_loses_it(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job_id, _ = await _running(h, "a")
        b = h.worker("b")
        for _ in range(5):  # five times 100 s of heartbeats: never lost
            await h.tick(TIMEOUT - 20, beating=["a", "b"])
        assert (await h.state(job_id)) == (RUNNING, "a", 1)
        await h.tick(TIMEOUT - 0.001, beating=["b"])
        assert (await h.state(job_id)) == (RUNNING, "a", 1)  # not a moment early
        await h.tick(0.001, beating=["b"])
        assert (await h.state(job_id)) == (JobState.ASSIGNED, "b", 2)
        assert b.assigned() == [Lease(job_id, 2)]
        assert a.sent()[-1] is None  # its stream was closed
        job = await h.job(job_id)
        assert any("node a lost" in e.reason for e in job.events)
        assert h.metric("ffrtmp_recovery_nodes_lost_total") == 1
        assert h.metric("ffrtmp_recovery_jobs_reassigned_total") == 1


async def test_a_stream_that_ends_is_not_a_loss(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job_id, lease = await _running(h, "a")
        h.worker("b")
        a.disconnect()  # a short partition: the worker reconnects in time
        await h.tick(TIMEOUT / 3, beating=["b"])
        a.connect(running=[lease])
        assert a.keep == [lease] and a.abort == []
        await h.tick(TIMEOUT - 1, beating=["a", "b"])
        await h.tick(TIMEOUT - 1, beating=["a", "b"])
        job = await h.job(job_id)
        assert (job.state, job.node_id, job.attempt) == (RUNNING, "a", 1)
        assert JobState.QUEUED not in [e.to_state for e in job.events][1:]
        assert h.metric("ffrtmp_recovery_nodes_lost_total") == 0


async def test_result_in_flight_when_the_lease_expires_is_refused(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job_id, lease = await _running(h, "a")
        await h.tick(TIMEOUT)  # lost, re-queued; no other worker yet
        assert (await h.state(job_id)) == (JobState.QUEUED, "a", 1)
        await a.result(lease)  # its success was on the wire all along
        assert a.aborted() == [lease]
        assert (await h.state(job_id))[0] == JobState.QUEUED
        b = h.worker("b")
        await h.settle()
        assert b.assigned() == [Lease(job_id, 2)]
        assert h.metric("ffrtmp_recovery_stale_leases_refused_total") == 1


async def test_timeout_while_a_result_commits_does_not_requeue(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job_id, lease = await _running(h, "a")
        b = h.worker("b")

        async def time_out(changes: Sequence[Change]) -> None:
            await h.tick(TIMEOUT, beating=["b"])  # a's success is being committed

        h.store.before_apply.append(time_out)
        await a.result(lease)
        job = await h.job(job_id)
        assert (job.state, job.node_id, job.attempt) == (SUCCEEDED, "a", 1)
        assert JobState.QUEUED not in [e.to_state for e in job.events][1:]
        assert b.assigned() == [] and h.metric("ffrtmp_recovery_nodes_lost_total") == 1


async def test_stale_attempt_cannot_overwrite_the_newer_one(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job_id, old = await _running(h, "a")
        b = h.worker("b")
        await h.tick(TIMEOUT, beating=["b"])
        [new] = b.assigned()
        await b.started(new)
        await b.result(new)
        assert (await h.state(job_id)) == (SUCCEEDED, "b", 2)
        a.connect(running=[old])  # the ghost comes back, still holding attempt 1
        assert a.abort == [old] and a.keep == []
        await a.result(old, Outcome.FAILED, exit_code=1, error="late news",
                       error_class="permanent")
        assert old in a.aborted()
        job = await h.job(job_id)
        assert (job.state, job.attempt, job.error) == (SUCCEEDED, 2, "")
        assert [e.to_state for e in job.events].count(SUCCEEDED) == 1


async def test_heartbeat_listing_a_stale_lease_gets_an_abort(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        _, lease = await _running(h, "a")
        a.heartbeat(running=[lease, Lease("elsewhere", 3)])
        assert a.aborted() == [Lease("elsewhere", 3)]


async def test_drain_while_an_assignment_commits(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        first = await h.submit()  # queued: the dispatcher assigns it
        a = h.worker("a", slots=2)

        async def drain(changes: Sequence[Change]) -> None:
            await h.scheduler.drain("a", True)

        h.store.before_apply.append(drain)
        await h.settle()
        # The assignment was already chosen: it stands, and the worker finishes it.
        assert a.assigned() == [Lease(first.id, 1)] and DrainCmd(True) in a.sent()
        second = await h.submit()
        await h.settle()
        assert len(a.assigned()) == 1  # a drained worker takes nothing new
        b = h.worker("b")
        await h.settle()
        assert b.assigned() == [Lease(second.id, 1)]
        await a.started(Lease(first.id, 1))
        await a.result(Lease(first.id, 1))
        assert (await h.state(first.id))[0] == SUCCEEDED


async def test_worker_draining_itself_takes_nothing_new(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a", slots=2)
        _, lease = await _running(h, "a")
        a.heartbeat(draining=True)  # SIGTERM on the worker
        waiting = await h.submit()
        await h.settle()
        assert a.assigned() == [lease]
        await a.result(lease)
        await h.settle()
        assert (await h.state(waiting.id))[0] == JobState.QUEUED


async def test_restart_waits_one_timeout_for_leases(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        h.worker("a")
        h.worker("b")
        kept, lease_a = await _running(h, "a")
        gone, _ = await _running(h, "b")
        queued = await h.submit()
    async with SchedHarness(tmp_path) as h:  # the master restarts on the same store
        assert len(h.scheduler.st.pending) == 1
        a = h.worker("a", running=[lease_a])
        assert a.keep == [lease_a]
        await h.settle()
        assert a.assigned() == []  # its one slot is still busy
        await h.tick(TIMEOUT - 1, beating=["a"])
        assert (await h.state(gone))[0] == RUNNING  # b may still come back
        await h.tick(1, beating=["a"])
        assert (await h.state(gone)) == (JobState.QUEUED, "b", 1)
        c = h.worker("c", slots=2)
        await h.settle()
        assert set(c.assigned()) == {Lease(gone, 2), Lease(queued.id, 1)}
        await a.result(lease_a)
        assert (await h.state(kept)) == (SUCCEEDED, "a", 1)


async def test_a_worker_with_stale_contact_gets_no_assign_until_answered(tmp_path: Path) -> None:
    """After this master stalled, a worker refuses each Assign as "not fresh"
    (reported lost) until a heartbeat it sends later is answered. The master must
    not hand it the job again meanwhile: it did, ten times in 200 ms, and the job
    ended FAILED "lost to the infrastructure 11 times"."""
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        first = a.assigned()[-1]
        await a.result(first, Outcome.FAILED, error_class="lost",
                       error="fenced: contact with the master was not fresh")
        assert a.assigned() == [first]  # re-queued, but not sent back to a yet
        assert (await h.state(job.id))[0] == JobState.QUEUED
        a.heartbeat()  # sent after the refusal: its answer makes a fresh again
        await h.settle()
        assert a.assigned()[-1] == Lease(job.id, 2)
        assert a.s.acked_at == h.clock.monotonic()
