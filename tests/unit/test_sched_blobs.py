"""Blob access follows the lease, and a success's artifacts are its own attempt's:
the in-process scheduler with a fake clock (see tests/helpers/sched.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrtmp.core.errors import Unavailable
from ffrtmp.core.model import Artifact, JobState, Lease, Outcome, OutputInfo
from tests.helpers.sched import SchedHarness

DIGEST = "ab" * 32
TIMEOUT = 120.0


def _art(lease: Lease, name: str = "out.mp4", attempt: int | None = None) -> Artifact:
    n = lease.attempt if attempt is None else attempt
    return Artifact(name, 10, "cd" * 32, "video/mp4", f"jobs/{lease.job_id}/attempts/{n}/{name}")


async def test_a_worker_reads_its_input_and_writes_its_attempt_only(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        h.worker("a")
        h.worker("b")
        job = await h.submit(input=f"blob:sha256:{DIGEST}")
        await h.settle()
        state, node, _ = await h.state(job.id)
        other = "b" if node == "a" else "a"
        assert state is JobState.ASSIGNED
        owner = (await h.job(job.id)).owner
        check = h.scheduler.blob_leases.authorize_worker
        mine = f"jobs/{job.id}/attempts/1/out.mp4"
        source = f"owners/{owner}/blobs/{DIGEST}"
        assert await check(node, job.id, 1, source, False)
        assert await check(node, job.id, 1, mine, True)
        assert not await check(node, job.id, 1, source, True)  # inputs are read-only
        assert not await check(node, job.id, 1, f"owners/{owner}/blobs/{'ef' * 32}", False)
        assert not await check(node, job.id, 1, f"jobs/{job.id}/attempts/2/out.mp4", True)
        assert not await check(other, job.id, 1, source, False)  # not its lease
        assert not await check(other, job.id, 1, mine, True)
        assert not await check(node, job.id, 2, mine, True)  # no such attempt yet


async def test_a_stale_attempt_can_no_longer_write(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit(input=f"blob:sha256:{DIGEST}")
        await h.settle()
        first = a.assigned()[-1]
        await a.started(first)
        h.worker("b")
        await h.tick(TIMEOUT + 1, beating=["b"])  # a is lost; b runs attempt 2
        assert (await h.state(job.id))[1:] == ("b", 2)
        check = h.scheduler.blob_leases.authorize_worker
        assert not await check("a", job.id, 1, f"jobs/{job.id}/attempts/1/out.mp4", True)
        assert await check("b", job.id, 2, f"jobs/{job.id}/attempts/2/out.mp4", True)


async def test_after_the_result_the_lease_holds_nothing(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        lease = a.assigned()[-1]
        await a.started(lease)
        info = OutputInfo("mp4", 1.0, 10, artifacts=(_art(lease),))
        await a.result(lease, output_info=info)
        got = await h.job(job.id)
        assert got.state is JobState.SUCCEEDED
        assert got.output_info is not None and got.output_info.artifacts == (_art(lease),)
        check = h.scheduler.blob_leases.authorize_worker
        assert not await check("a", job.id, 1, f"jobs/{job.id}/attempts/1/late.mp4", True)


async def test_a_success_naming_another_attempts_blobs_is_refused(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit(max_retries=0)
        await h.settle()
        lease = a.assigned()[-1]
        await a.started(lease)
        info = OutputInfo("mp4", 1.0, 10, artifacts=(_art(lease, attempt=7),))
        await a.result(lease, Outcome.SUCCEEDED, output_info=info)
        got = await h.job(job.id)
        assert got.state is JobState.FAILED
        assert "bad artifacts" in got.error


async def test_a_lease_whose_node_is_away_answers_try_again(tmp_path: Path) -> None:
    """A node's blob channel can reach the master before its stream does (after a
    master restart, after a blink): its transfer is told to retry, not refused, so a
    finished run is not failed and redone elsewhere."""
    async with SchedHarness(tmp_path) as h:
        a = h.worker("a")
        job = await h.submit()
        await h.settle()
        lease = a.assigned()[-1]
        await a.started(lease)
        a.disconnect()
        check = h.scheduler.blob_leases.authorize_worker
        mine = f"jobs/{job.id}/attempts/1/out.mp4"
        with pytest.raises(Unavailable, match="not connected yet"):
            await check("a", job.id, 1, mine, True)
        assert not await check("b", job.id, 1, mine, True)  # never its lease: refused
        a.connect(running=[lease])
        await h.settle()
        assert await check("a", job.id, 1, mine, True)
