"""Workers die or are cut off mid-job: the job moves on, never runs twice at once.

End-to-end proof with real processes. The scheduler's side of these races —
silence against the heartbeat timeout, short partitions, results that arrive
after their lease expired — is tested deterministically in
tests/unit/test_sched_leases.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.jobs import event_states, log_time, wait_job
from tests.helpers.proxy import TcpProxy
from tests.helpers.scrape import metrics

RUNNING = common_pb2.JOB_STATE_RUNNING
SUCCEEDED = common_pb2.JOB_STATE_SUCCEEDED
TIMEOUT_S = 6.0  # the harness's --heartbeat-timeout


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        c.start_master()
        yield c
    finally:
        c.stop()


async def _submit(cluster: Cluster, seconds: float) -> str:
    """A job that runs for about `seconds`: a real-time encode to a file."""
    spec = common_pb2.JobSpec(scenario="test", live=True, duration_s=seconds, output="rt.mp4")
    async with cluster.client() as c:
        return (await c.submit(spec)).job.id


async def _running_on(cluster: Cluster, job_id: str, node: str, attempt: int) -> common_pb2.Job:
    return await wait_job(
        cluster,
        job_id,
        lambda j: (
            j.state == RUNNING
            and j.node_id == node
            and j.attempt == attempt
            and j.progress.out_time_s > 0
        ),
        what=f"running on {node} (attempt {attempt})",
    )


async def test_sigkilled_worker_job_completes_elsewhere(cluster: Cluster) -> None:
    cluster.start_worker("a")
    job_id = await _submit(cluster, 25)
    await _running_on(cluster, job_id, "a", 1)
    cluster.start_worker("b")
    await cluster.wait_nodes(2)
    ffmpegs = psutil.Process(cluster.workers["a"].pid).children(recursive=True)
    assert ffmpegs
    killed_at = time.time()
    cluster.workers["a"].kill()
    # Its ffmpeg dies with it: nothing of attempt 1 runs on.
    _, alive = psutil.wait_procs(ffmpegs, timeout=3)
    assert not [p for p in alive if p.status() != psutil.STATUS_ZOMBIE]
    job = await wait_job(
        cluster, job_id, lambda j: j.state == SUCCEEDED, timeout=120, what="success"
    )
    assert (job.node_id, job.attempt) == ("b", 2)
    reassigned = next(
        e for e in job.events if e.to_state == common_pb2.JOB_STATE_ASSIGNED and e.attempt == 2
    )
    waited = reassigned.at_unix_ms / 1000 - killed_at
    # About one heartbeat timeout after the last heartbeat: never before it.
    assert TIMEOUT_S - 1.5 <= waited <= 2 * TIMEOUT_S + 3, waited
    assert any("node a lost" in e.reason for e in job.events)
    assert event_states(job).count(SUCCEEDED) == 1
    m = metrics(cluster)
    assert m["ffrtmp_recovery_nodes_lost_total"] >= 1
    assert m["ffrtmp_recovery_jobs_reassigned_total"] >= 1


async def test_long_partition_fences_before_reassignment(cluster: Cluster) -> None:
    proxy = TcpProxy(cluster.port)
    try:
        cluster.start_worker("a", master=f"127.0.0.1:{proxy.port}")
        job_id = await _submit(cluster, 3600)  # runs until canceled
        await _running_on(cluster, job_id, "a", 1)
        cluster.start_worker("b")
        await cluster.wait_nodes(2)
        proxy.pause()
        await _running_on(cluster, job_id, "b", 2)
        # Fenced by the launcher, or by the worker's own check, whichever comes first.
        fenced = cluster.workers["a"].wait_for(rf"fenced.*{job_id}.*attempt[ =]1", 5)
        started = cluster.workers["b"].wait_for(rf"job {job_id} attempt 2: ffmpeg pid", 5)
        # The isolated worker's ffmpeg was dead before the new run began.
        assert log_time(fenced.string) < log_time(started.string)
        proxy.resume()
        await asyncio.sleep(3)  # a reconnect must not bring attempt 1 back
        async with cluster.client() as c:
            job = await c.get(job_id)
            assert (job.state, job.node_id, job.attempt) == (RUNNING, "b", 2)
            await c.cancel(job_id)
    finally:
        proxy.close()
