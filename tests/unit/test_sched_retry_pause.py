"""Retries with backoff and pause/resume, on the in-process scheduler: the
backoff's jitter comes from the harness's seeded random source, so the exact
moment a job comes back is known."""

from __future__ import annotations

import random
from pathlib import Path

from ffrtmp.core.model import JobState, Lease, Outcome
from ffrtmp.core.retry import Backoff
from ffrtmp.master.scheduling.sessions import PauseCmd
from tests.helpers.sched import SchedHarness

BACKOFF = Backoff(base_s=5.0, factor=2.0, cap_s=300.0, jitter=0.2)
RUNNING, PAUSED, SUCCEEDED = JobState.RUNNING, JobState.PAUSED, JobState.SUCCEEDED


async def _fail(h: SchedHarness, node: str, lease: Lease, error_class: str,
                error: str = "Connection reset by peer") -> None:
    # Not "Connection refused": a refusal repeated ends the retries (the next test).
    w = h.workers[node]
    await w.started(lease)
    await w.result(lease, Outcome.FAILED, exit_code=1, error_class=error_class, error=error)


async def test_transient_failures_wait_out_a_jittered_backoff(tmp_path: Path) -> None:
    rand = random.Random(7)  # the same seed as the harness: the same jitter
    delays = [BACKOFF.delay(n, rand.random()) for n in (1, 2)]
    async with SchedHarness(tmp_path, seed=7, max_retries=2, backoff=BACKOFF) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        for n, delay in enumerate(delays, start=1):
            lease = Lease(job.id, n)
            assert a.assigned()[-1] == lease
            await _fail(h, "a", lease, "transient")
            waiting = await h.job(job.id)
            assert waiting.state == JobState.RETRY_WAIT
            assert waiting.not_before_ms == h.clock.now_ms() + int(delay * 1000)
            await h.tick(delay - 0.01, beating=["a"])
            assert (await h.state(job.id))[0] == JobState.RETRY_WAIT
            await h.tick(0.01, beating=["a"])
            assert (await h.state(job.id)) == (JobState.ASSIGNED, "a", n + 1)
        await _fail(h, "a", Lease(job.id, 3), "transient")
        done = await h.job(job.id)
        assert done.state == JobState.FAILED and "retries exhausted" in done.failure_reason
        assert h.metric("ffrtmp_recovery_retries_scheduled_total") == 2


async def test_the_same_refusal_twice_fails_the_job_at_once(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path, seed=7, max_retries=5, backoff=BACKOFF) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        await _fail(h, "a", Lease(job.id, 1), "transient", "[tcp @ 0x1] Connection refused")
        assert (await h.job(job.id)).state == JobState.RETRY_WAIT
        await h.tick(BACKOFF.cap_s, beating=["a"])
        assert a.assigned()[-1] == Lease(job.id, 2)
        await _fail(h, "a", Lease(job.id, 2), "transient", "[tcp @ 0x2] Connection refused")
        done = await h.job(job.id)
        assert done.state == JobState.FAILED and done.attempt == 2
        assert done.failure_reason == "connection refused twice in a row, not retried again"


async def test_a_retry_prefers_a_worker_that_has_not_failed_the_job(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path, backoff=BACKOFF) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        b = h.worker("b")
        await _fail(h, "a", Lease(job.id, 1), "transient")
        await h.tick(BACKOFF.cap_s, beating=["a", "b"])
        assert b.assigned() == [Lease(job.id, 2)] and len(a.assigned()) == 1


async def test_permanent_failure_is_not_retried(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        h.worker("a")
        job = await h.submit()
        await h.settle()
        await _fail(h, "a", Lease(job.id, 1), "permanent")
        done = await h.job(job.id)
        assert (done.state, done.attempt, done.failure_reason) == (
            JobState.FAILED, 1, "permanent failure")


async def test_a_canceled_retry_wait_never_comes_back(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path, backoff=BACKOFF) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        await _fail(h, "a", Lease(job.id, 1), "transient")
        await h.scheduler.cancel(job.id)
        await h.tick(BACKOFF.cap_s, beating=["a"])
        assert (await h.state(job.id))[0] == JobState.CANCELED and len(a.assigned()) == 1
        assert h.scheduler.st.retry_waiting == 0


async def test_pause_and_resume_keep_the_lease(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        [lease] = a.assigned()
        await a.started(lease)
        await h.scheduler.pause(job.id, True)
        await h.tick(60, beating=["a"])
        assert (await h.state(job.id)) == (PAUSED, "a", 1)
        await h.scheduler.pause(job.id, False)
        assert a.of(PauseCmd) == [PauseCmd(lease, True), PauseCmd(lease, False)]
        assert (await h.state(job.id)) == (RUNNING, "a", 1)
        await a.result(lease)
        assert (await h.state(job.id)) == (SUCCEEDED, "a", 1)


async def test_a_run_that_ends_before_its_pause_lands_succeeds(tmp_path: Path) -> None:
    """The transition table allows PAUSED -> SUCCEEDED, and the scheduler only
    commits what the table allows (the harness checks every transition)."""
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        [lease] = a.assigned()
        await a.started(lease)
        await h.scheduler.pause(job.id, True)
        await a.result(lease)  # ffmpeg had already exited when the Pause arrived
        assert (await h.state(job.id))[0] == SUCCEEDED
        assert (job.id, PAUSED, SUCCEEDED) in h.transitions


async def test_a_pause_does_not_end_the_attempt(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        [lease] = a.assigned()
        await h.tick(1, beating=["a"])
        await a.started(lease)
        await h.tick(10, beating=["a"])
        await h.scheduler.pause(job.id, True)
        await h.tick(30, beating=["a"])
        await h.scheduler.pause(job.id, False)
        await h.tick(5, beating=["a"])
        await a.result(lease)
        run = {"queue": "default", "outcome": "succeeded"}
        assert h.metric("ffrtmp_job_run_seconds_count", run) == 1
        # From assignment to the end, paused time included; not from the resume.
        assert h.metric("ffrtmp_job_run_seconds_sum", run) == 46
        paused = {"queue": "default", "outcome": "paused"}
        assert h.metric("ffrtmp_job_run_seconds_count", paused) == 0
