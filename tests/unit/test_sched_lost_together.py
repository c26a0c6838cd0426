"""After a restart of the whole cluster the master holds leases of several
workers at once; the ones that do not come back are lost in the same sweep and
their jobs must be re-queued in one commit, not one after the other (a slow
first commit after a restart then held up every lost worker's jobs in turn)."""

from __future__ import annotations

from pathlib import Path

from ffrtmp.core.model import JobState, Lease, Outcome
from tests.helpers.sched import SchedHarness

TIMEOUT = 120.0


async def _cluster_then_restart(tmp_path: Path) -> dict[str, list[Lease]]:
    """Three workers with two running jobs each, then the master stops."""
    held: dict[str, list[Lease]] = {}
    async with SchedHarness(tmp_path) as h:
        workers = [h.worker(n, slots=2) for n in ("a", "b", "c")]
        for _ in range(6):
            await h.submit()
        await h.settle()
        for w in workers:
            held[w.node_id] = w.assigned()
            assert len(held[w.node_id]) == 2
            for lease in held[w.node_id]:
                await w.started(lease)
    return held


async def test_nodes_lost_in_one_sweep_are_requeued_in_one_commit(tmp_path: Path) -> None:
    held = await _cluster_then_restart(tmp_path)
    async with SchedHarness(tmp_path, heartbeat_timeout_s=TIMEOUT) as h:
        live = h.scheduler.liveness
        c = h.worker("c", slots=2, running=held["c"])  # only c comes back
        assert c.keep == held["c"]
        h.clock.advance(TIMEOUT - 1)
        c.heartbeat()
        await live.sweep()
        await h.settle()
        for lease in held["a"] + held["b"]:  # nothing given up before the timeout
            assert await h.state(lease.job_id) == (JobState.RUNNING, lease_node(held, lease),
                                                   lease.attempt)
        h.clock.advance(1)
        c.heartbeat()
        batches, applies = h.store.batches, len(h.transitions)
        await live.sweep()
        assert h.store.batches - batches == 1, "every lost worker's jobs in one commit"
        assert len(h.transitions) - applies == 4
        for lease in held["a"] + held["b"]:
            state, _, attempt = await h.state(lease.job_id)
            assert state == JobState.QUEUED and attempt == lease.attempt
        for lease in held["c"]:
            assert (await h.state(lease.job_id))[0] == JobState.RUNNING
        d = h.worker("d", slots=4)  # they run elsewhere, each at a new attempt
        await h.settle()
        moved = {lease.job_id: lease.attempt for lease in d.assigned()}
        assert moved == {lease.job_id: lease.attempt + 1 for lease in held["a"] + held["b"]}
        assert h.metric("ffrtmp_recovery_nodes_lost_total") == 2


def lease_node(held: dict[str, list[Lease]], lease: Lease) -> str:
    return next(node for node, leases in held.items() if lease in leases)


async def test_retries_due_in_one_sweep_are_requeued_in_one_commit(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        w = h.worker("a", slots=3)
        jobs = [await h.submit() for _ in range(3)]
        await h.settle()
        for lease in w.assigned():
            await w.result(lease, Outcome.FAILED, exit_code=1, error_class="transient",
                           error="connection reset")
        for job in jobs:
            assert (await h.state(job.id))[0] == JobState.RETRY_WAIT
        h.clock.advance(10)  # past every jittered 5 s backoff
        batches = h.store.batches
        await h.scheduler.liveness.sweep()
        assert h.store.batches - batches == 1, "every due retry in one commit"
        for job in jobs:
            assert (await h.state(job.id))[0] == JobState.QUEUED
        await h.settle()
        assert sorted(lease.attempt for lease in w.assigned()) == [1, 1, 1, 2, 2, 2]
