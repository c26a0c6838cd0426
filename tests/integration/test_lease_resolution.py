"""Leases a worker no longer holds, and attempts lost to the infrastructure, on the
real Scheduler and SQLite store in-process: a fake clock, worker sessions driven by
hand, their outboxes read. No sleeps decide an outcome, except where the timer's
own wake-up is the point."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from ffrtmp.core.model import AttemptResult, Job, JobState, Lease, Outcome
from ffrtmp.core.retry import LOST
from ffrtmp.core.spec import RawSpec
from ffrtmp.master.config import MasterConfig
from ffrtmp.master.observe.metrics import MasterMetrics
from ffrtmp.master.scheduling.scheduler import Scheduler
from ffrtmp.master.scheduling.sessions import AssignCmd, Command, NodeSession
from ffrtmp.master.scheduling.sources import Sources
from ffrtmp.master.scheduling.state import State
from ffrtmp.master.storage.sqlite.store import SqliteStore

CAPS: dict[str, object] = {"encoders": ["libx264"], "labels": {}, "gpus": 0}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def make(tmp_path: Path) -> AsyncIterator[Callable[..., Scheduler]]:
    stores: list[SqliteStore] = []

    def build(clock: Clock | None = None, **config: object) -> Scheduler:
        store = SqliteStore(tmp_path / f"m{len(stores)}.db")
        stores.append(store)
        cfg = MasterConfig(db=store.path, **config)  # type: ignore[arg-type]
        sources = Sources() if clock is None else Sources(clock=clock)
        return Scheduler(State(store, cfg, MasterMetrics(), sources))

    yield build
    for s in stores:
        await s.close()


def drain(s: NodeSession) -> list[Command]:
    out: list[Command] = []
    while not s.outbox.empty():
        cmd = s.outbox.get_nowait()
        if cmd is not None:
            out.append(cmd)
    return out


async def assigned(sched: Scheduler, node: str = "w1") -> tuple[NodeSession, Job, AssignCmd]:
    await sched.st.store.open()
    await sched.start()
    await sched.background.stop(1)  # this test drives dispatch and timers itself
    s, _, _ = sched.liveness.connect(node, CAPS, 1, "test", [])
    assert not await sched.dispatcher.dispatch_round()  # nothing queued: the worker is idle
    job, _ = await sched.submit(RawSpec(scenario="test", duration_s=3600))
    assert job.state == JobState.ASSIGNED  # the idle worker got it with the submit's commit
    [cmd] = [c for c in drain(s) if isinstance(c, AssignCmd)]
    return s, job, cmd


async def settled(sched: Scheduler, job_id: str, state: JobState) -> Job:
    for _ in range(200):
        job = await sched.st.store.get_job(job_id)
        assert job is not None
        if job.state == state:
            return job
        await asyncio.sleep(0.01)
    raise AssertionError(f"job {job_id} is {job.state.name}, not {state.name}")


async def test_a_lease_the_heartbeat_no_longer_lists_is_requeued_at_once(
    make: Callable[..., Scheduler],
) -> None:
    sched = make(Clock())
    s, job, cmd = await assigned(sched)
    assert cmd.seq == 1
    # Sent before the Assign arrived: not listing it proves nothing.
    sched.liveness.on_heartbeat(s, [], seq=1, assign_seq=0)
    await asyncio.sleep(0.05)
    assert s.holds(cmd.lease)
    # Sent after: the worker fenced (or refused) it. No waiting for a timeout.
    sched.liveness.on_heartbeat(s, [], seq=2, assign_seq=1)
    requeued = await settled(sched, job.id, JobState.QUEUED)
    assert not s.holds(cmd.lease)
    assert (requeued.lost_attempts, requeued.retry_base, requeued.attempt) == (1, 1, 1)
    full = await sched.get(job.id)
    assert any("no longer holds the lease" in e.reason for e in full.events)


async def test_listed_lease_is_kept(make: Callable[..., Scheduler]) -> None:
    sched = make(Clock())
    s, job, cmd = await assigned(sched)
    sched.liveness.on_heartbeat(s, [cmd.lease], seq=1, assign_seq=1)
    await asyncio.sleep(0.05)
    assert s.holds(cmd.lease)
    assert (await settled(sched, job.id, JobState.ASSIGNED)).lost_attempts == 0


async def test_fenced_attempts_are_not_charged_but_are_bounded(
    make: Callable[..., Scheduler],
) -> None:
    sched = make(Clock(), max_retries=0, max_lost_attempts=2)
    s, job, cmd = await assigned(sched)
    for n in (1, 2, 3):
        if n > 1:
            sched.liveness.on_heartbeat(s, [], 0)  # answered: fresh again, it takes jobs
            assert await sched.dispatcher.dispatch_round()
            [cmd] = [c for c in drain(s) if isinstance(c, AssignCmd)]
        fenced = AttemptResult(Outcome.FAILED, -9, LOST, f"fenced: lease {job.id}/{n} dropped")
        await sched.attempts.on_result(s, cmd.lease, fenced)
        if n < 3:
            # max_retries=0, yet the job goes on: a fence is not the job's failure.
            got = await settled(sched, job.id, JobState.QUEUED)
            assert got.lost_attempts == n
    failed = await settled(sched, job.id, JobState.FAILED)
    assert failed.lost_attempts == 3
    assert "lost to the infrastructure 3 times" in failed.failure_reason
    assert sched.st.metrics.attempts_lost.labels("fenced")._value.get() == 3


async def test_own_failure_still_charged_after_lost_attempts(
    make: Callable[..., Scheduler],
) -> None:
    sched = make(Clock(), max_retries=1)
    s, job, cmd = await assigned(sched)
    await sched.attempts.on_result(s, cmd.lease, AttemptResult(Outcome.FAILED, -9, LOST, "fenced"))
    await settled(sched, job.id, JobState.QUEUED)
    for _ in range(2):  # two transient failures: the retry budget of 1 is spent
        sched.liveness.on_heartbeat(s, [], 0)  # after the fence: fresh again
        assert await sched.dispatcher.dispatch_round()
        [cmd] = [c for c in drain(s) if isinstance(c, AssignCmd)]
        await sched.attempts.on_result(
            s, cmd.lease, AttemptResult(Outcome.FAILED, 1, "transient", "x")
        )
        got = await sched.st.store.get_job(job.id)
        assert got is not None
        if got.state == JobState.RETRY_WAIT:
            await sched.attempts.requeue_after_backoff(job.id)
    failed = await settled(sched, job.id, JobState.FAILED)
    assert failed.attempt == 3 and failed.lost_attempts == 1
    assert "retries exhausted after 2 attempts" in failed.failure_reason


async def test_node_lost_is_counted_as_lost(make: Callable[..., Scheduler]) -> None:
    clock = Clock()
    sched = make(clock, heartbeat_timeout_s=3.0, max_retries=0)
    s, job, _cmd = await assigned(sched)
    clock.now += 3.0
    timers = asyncio.create_task(sched.liveness.run_timers())
    try:
        got = await settled(sched, job.id, JobState.QUEUED)
    finally:
        timers.cancel()
    assert got.lost_attempts == 1 and not s.connected
    assert sched.st.metrics.attempts_lost.labels("node_lost")._value.get() == 1


async def test_a_new_worker_wakes_the_timer(make: Callable[..., Scheduler]) -> None:
    # The timer sleeps a whole interval when nothing is connected; a worker that
    # connects then falls silent must still be lost one timeout later, not an
    # interval later. Real time here: the timer's wake-up is the point.
    sched = make(scheduler_interval_s=30.0, heartbeat_timeout_s=0.3)
    await sched.st.store.open()
    await sched.start()
    try:
        await asyncio.sleep(0.1)  # the timer is asleep for its interval
        s, _, _ = sched.liveness.connect("w1", CAPS, 1, "test", [])
        for _ in range(100):
            if not s.connected:
                break
            await asyncio.sleep(0.05)
        assert not s.connected, "a silent worker was not declared lost within 5 s"
    finally:
        await sched.stop()


async def test_reconnect_without_the_lease_is_lost_not_failed(
    make: Callable[..., Scheduler],
) -> None:
    sched = make(Clock(), max_retries=0)
    _s, job, cmd = await assigned(sched)
    _s2, keep, abort = sched.liveness.connect("w1", CAPS, 1, "test", [])
    assert (keep, abort) == ([], [])
    got = await settled(sched, job.id, JobState.QUEUED)
    assert got.lost_attempts == 1
    assert Lease(job.id, 1) == cmd.lease
