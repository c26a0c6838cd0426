"""Faults the fault tests did not stage, with real processes and the /proc watcher
(tests/helpers/ffwatch.py): the master alone stopped (SIGSTOP) past the heartbeat timeout; a
worker's Result held in a partition past the timeout and delivered late; a master
SIGTERM while an upload and its Result wait in a partition; a worker daemon stopped
mid-upload; a second worker process started under a node's certificate while the
first still runs its job. Each checks that nothing
acknowledged is lost, no job's ffmpeg ran in two places at once, and no job
succeeded twice.

The default suite runs the second worker process (about 15 s); `make attacks` runs
them all (about 3 minutes on a busy 2-core host)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.ffwatch import FfmpegWatch
from tests.helpers.jobs import TERMINAL, event_states, wait_job
from tests.helpers.proxy import TcpProxy

RUNNING, SUCCEEDED = common_pb2.JOB_STATE_RUNNING, common_pb2.JOB_STATE_SUCCEEDED
INTERVAL_S, TIMEOUT_S = 0.25, 4.0
TIMINGS = ("--heartbeat-interval", f"{INTERVAL_S}s", "--heartbeat-timeout", f"{TIMEOUT_S}s",
           "--retry-backoff", "200ms", "--retry-backoff-max", "1s")
long_suite = pytest.mark.skipif(
    os.environ.get("FFRTMP_ATTACKS") != "1", reason="make attacks runs these"
)


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        c.start_master(*TIMINGS)
        yield c
    finally:
        c.stop()


async def _submit(cluster: Cluster, seconds: float, name: str) -> str:
    """A real-time encode of `seconds` into a file: long enough to be caught running."""
    spec = common_pb2.JobSpec(scenario="test", live=True, duration_s=seconds,
                              output=f"{name}.mp4", max_retries=5)
    async with cluster.client() as c:
        return (await c.submit(spec, request_id=name)).job.id


async def _running_on(cluster: Cluster, job_id: str, node: str) -> common_pb2.Job:
    return await wait_job(
        cluster, job_id,
        lambda j: j.state == RUNNING and j.node_id == node and j.progress.out_time_s > 0,
        timeout=40, what=f"running on {node}",
    )


async def _finished(cluster: Cluster, job_id: str, timeout: float = 60) -> common_pb2.Job:
    await wait_job(cluster, job_id, lambda j: j.state in TERMINAL, timeout=timeout,
                   what="terminal")
    async with cluster.client() as c:
        return await c.get(job_id)  # with its events


def _succeeded_once(job: common_pb2.Job) -> None:
    assert job.state == SUCCEEDED, (job.state, job.error)
    assert event_states(job).count(SUCCEEDED) == 1, [e.reason for e in job.events]


async def test_second_process_under_one_identity_is_refused(cluster: Cluster) -> None:
    a = cluster.start_worker("a")
    job_id = await _submit(cluster, 3600, "twin")
    await _running_on(cluster, job_id, "a")
    with FfmpegWatch(job_id) as watch:
        # The same certificate in another process (a restart that did not wait for
        # the old one to exit, a copied deployment): it must not disown a's run.
        twin = cluster.start_worker("a-twin", cert_name="a")
        twin.wait_for(r"ALREADY_EXISTS.*already connected from another process", 20)
        await asyncio.sleep(1)
        job = await _running_on(cluster, job_id, "a")
        assert (job.attempt, job.lost_attempts) == (1, 0)
        # Once the first process is gone, the second serves the node.
        a.kill()
        job = await wait_job(cluster, job_id, lambda j: j.state == RUNNING and j.attempt == 2,
                             timeout=60, what="running again")
        await asyncio.sleep(1)
    assert watch.most == 1, f"two ffmpeg of one job at once for {watch.overlap_s:.2f}s"
    assert (job.node_id, job.lost_attempts) == ("a", 1)
    async with cluster.client() as c:
        await c.cancel(job_id)
    assert cluster.master is not None
    assert not [x for x in cluster.master.lines if "Traceback" in x]


@long_suite
async def test_master_stopped_past_the_timeout(cluster: Cluster) -> None:
    a, b = cluster.start_worker("a"), cluster.start_worker("b")
    await cluster.wait_nodes(2)
    jobs = [await _submit(cluster, 6, f"mstop-{i}") for i in range(2)]
    for job_id in jobs:
        await wait_job(cluster, job_id, lambda j: j.state == RUNNING, timeout=40)
    master = cluster.master
    assert master is not None
    with FfmpegWatch(jobs[0]) as w0, FfmpegWatch(jobs[1]) as w1:
        master.signal(signal.SIGSTOP)  # workers fence by 0.75 x timeout; the master sleeps
        await asyncio.sleep(2 * TIMEOUT_S)
        master.signal(signal.SIGCONT)
        done = [await _finished(cluster, j, timeout=90) for j in jobs]
    for job, watch in zip(done, (w0, w1), strict=True):
        _succeeded_once(job)
        assert watch.most == 1, f"two ffmpeg of one job at once for {watch.overlap_s:.2f}s"
        assert job.attempt - job.lost_attempts == 1, job  # nothing charged to the job
    for proc in (a, b, master):
        assert not [x for x in proc.lines if "Traceback" in x], proc.argv[2]


@long_suite
async def test_result_held_in_a_partition_and_delivered_late(cluster: Cluster) -> None:
    proxy = TcpProxy(cluster.port)
    try:
        a = cluster.start_worker("a", master=f"127.0.0.1:{proxy.port}")
        job_id = await _submit(cluster, 2, "held")
        await _running_on(cluster, job_id, "a")
        with FfmpegWatch(job_id) as watch:
            # The run ends behind the partition: its output upload and its Result
            # wait there; the worker fences, the master loses it.
            proxy.pause()
            a.wait_for(rf"job {job_id} attempt 1: (SUCCEEDED|FAILED)", 30)
            cluster.start_worker("b")
            await wait_job(cluster, job_id, lambda j: j.node_id == "b", timeout=40, what="on b")
            proxy.resume()  # what a said about attempt 1 arrives now, stale
            job = await _finished(cluster, job_id)
        _succeeded_once(job)
        assert (job.node_id, job.attempt, job.lost_attempts) == ("b", 2, 1)
        assert watch.most == 1
    finally:
        proxy.close()


@long_suite
async def test_master_sigterm_with_an_upload_in_a_partition(tmp_path: Path) -> None:
    # A timeout long enough for the master to stop and start within the fence window
    # (0.75 x 30 s) on a busy host; the held upload keeps its stop for the grace.
    timings = (*TIMINGS[:2], "--heartbeat-timeout", "30s", *TIMINGS[4:], "--stop-grace", "2s")
    cluster = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    proxy = None
    try:
        cluster.start_master(*timings)
        proxy = TcpProxy(cluster.port)
        a = cluster.start_worker("a", master=f"127.0.0.1:{proxy.port}")
        job_id = await _submit(cluster, 2, "term")
        await _running_on(cluster, job_id, "a")
        proxy.pause()  # the output upload and the Result wait in the partition
        a.wait_for(rf"job {job_id} attempt 1: storing", 20)
        master, port = cluster.master, cluster.port
        assert master is not None
        master.signal(signal.SIGTERM)
        master.popen.wait(15)  # bounded though a worker's bytes are held
        assert master.popen.returncode == 0, "".join(master.lines[-20:])
        cluster.start_master(*timings, port=port)
        proxy.resume()  # the upload resumes; the Result reaches the new master
        job = await _finished(cluster, job_id)
        _succeeded_once(job)
        assert (job.node_id, job.attempt, job.lost_attempts) == ("a", 1, 0)
    finally:
        if proxy is not None:
            proxy.close()
        cluster.stop()


@long_suite
async def test_worker_stopped_mid_upload(cluster: Cluster) -> None:
    proxy = TcpProxy(cluster.port)
    try:
        proxy.throttle(60_000)  # a slow link: the output upload takes seconds
        a = cluster.start_worker("a", master=f"127.0.0.1:{proxy.port}")
        b = cluster.start_worker("b")
        await cluster.wait_nodes(2)
        async with cluster.client() as c:
            await c.drain_node("b")  # b takes the job only once a is lost
        job_id = await _submit(cluster, 2, "upstall")
        await _running_on(cluster, job_id, "a")
        a.wait_for(rf"job {job_id} attempt 1: storing", 30)
        a.signal(signal.SIGSTOP)  # the daemon alone, mid-upload
        try:
            async with cluster.client() as c:
                await c.drain_node("b", False)
            await wait_job(cluster, job_id, lambda j: j.node_id == "b", timeout=40, what="on b")
        finally:
            a.signal(signal.SIGCONT)  # its upload of attempt 1 goes on, stale
        proxy.throttle(0)
        job = await _finished(cluster, job_id)
        await asyncio.sleep(2)  # what a still sends lands now
        async with cluster.client() as c:
            job = await c.get(job_id)
        _succeeded_once(job)
        assert (job.node_id, job.attempt, job.lost_attempts) == ("b", 2, 1)
        resources = [x.resource for x in job.output_info.artifacts]
        assert resources and all("/attempts/2/" in r for r in resources), resources
        assert not [x for x in b.lines + a.lines if "Traceback" in x]
    finally:
        proxy.close()
