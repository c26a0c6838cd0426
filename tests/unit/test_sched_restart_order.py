"""A restart rebuilds the queue from the store's runs (in heap order, one Kind a
run): it must hand out jobs in the order the master that never stopped would
have, for every class, needs set and aging setting, and keep cancels exact."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from ffrtmp.core.model import JobState, Outcome
from ffrtmp.core.queue import PendingJobs
from tests.helpers.sched import SchedHarness

QUEUES = ("live", "default", "batch")
PRIORITIES = ("high", "medium", "low")
CODECS = ("h264", "h264", "hevc")  # two needs sets, one twice as common
H264 = frozenset({"codec:h264"})
EVERY = frozenset({"codec:h264", "codec:h265"})


def _drain(q: PendingJobs, offer: frozenset[str]) -> list[str]:
    out = []
    while (popped := q.pop_for(offer)) is not None:
        out.append(popped[0])
    return out


async def _submit_mixed(h: SchedHarness, n: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    ids = []
    for _ in range(n):
        job = await h.submit(queue=rng.choice(QUEUES), priority=rng.choice(PRIORITIES),
                             codec=rng.choice(CODECS))
        ids.append(job.id)
        h.clock.advance(rng.random())  # aging counts from each job's own submission
    return ids


async def _order_before_and_after(tmp_path: Path, offer: frozenset[str],
                                  **config: Any) -> tuple[list[str], list[str]]:
    async with SchedHarness(tmp_path, **config) as h:
        ids = await _submit_mixed(h, 120, seed=5)
        for job_id in ids[::7]:  # some canceled while queued, before the restart
            await h.scheduler.cancel(job_id)
        before = _drain(h.scheduler.st.pending, offer)
    async with SchedHarness(tmp_path, **config) as h:
        after = _drain(h.scheduler.st.pending, offer)
    return before, after


@pytest.mark.parametrize("offer", [H264, EVERY], ids=["h264-worker", "any-worker"])
@pytest.mark.parametrize("aging", [0.0, 30.0], ids=["no-aging", "aging"])
async def test_a_restart_queues_in_the_same_order(
    tmp_path: Path, offer: frozenset[str], aging: float
) -> None:
    before, after = await _order_before_and_after(tmp_path, offer, aging_interval_s=aging)
    assert len(before) > 20 and after == before


async def test_after_a_restart_a_worker_gets_jobs_in_priority_order(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        ids = await _submit_mixed(h, 30, seed=9)
        expected = _drain(h.scheduler.st.pending, EVERY)
    async with SchedHarness(tmp_path) as h:
        w = h.worker("w", encoders=["libx264", "libx265", "aac"])
        got = []
        for _ in ids:
            await h.settle()
            [lease] = w.assigned()[len(got):]
            got.append(lease.job_id)
            await w.result(lease, Outcome.SUCCEEDED)
        assert got == expected and len(h.scheduler.st.pending) == 0


async def test_a_job_canceled_right_after_a_restart_never_runs(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        ids = await _submit_mixed(h, 12, seed=3)
    async with SchedHarness(tmp_path) as h:
        first = _head(h)
        await h.scheduler.cancel(first)
        w = h.worker("w", slots=len(ids), encoders=["libx264", "libx265", "aac"])
        await h.settle()
        assigned = {lease.job_id for lease in w.assigned()}
        assert assigned == set(ids) - {first}
        assert (await h.state(first))[0] == JobState.CANCELED


def _head(h: SchedHarness) -> str:
    head = h.scheduler.st.pending.peek_for(EVERY)
    assert head is not None
    return head


async def test_jobs_submitted_before_the_queue_loads_keep_their_place(tmp_path: Path) -> None:
    """After a restore the queue loads late (restore.py), over jobs submitted
    meanwhile: the heap is then not a plain sorted list and is heapified."""
    async with SchedHarness(tmp_path) as h:
        await _submit_mixed(h, 40, seed=11)
    async with SchedHarness(tmp_path, hold_queue=True) as h:
        for q, p in [("batch", "low"), ("live", "high"), ("default", "medium")]:
            await h.submit(queue=q, priority=p)
        await h.scheduler._load_waiting()
        order = _drain(h.scheduler.st.pending, EVERY)
    async with SchedHarness(tmp_path) as h:  # the same 43 jobs, all loaded at once
        assert _drain(h.scheduler.st.pending, EVERY) == order and len(order) == 43
