"""A worker daemon that stalls (SIGSTOP of the daemon alone: its ffmpeg runs on),
and a partition that holds bytes and then delivers them. An independent watcher
reads /proc every 50 ms: a job's ffmpeg never runs on two workers at once, and no
job is left RUNNING with no ffmpeg anywhere."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.ffwatch import FfmpegWatch
from tests.helpers.jobs import log_time, wait_job
from tests.helpers.proxy import TcpProxy

RUNNING = common_pb2.JOB_STATE_RUNNING
INTERVAL_S, TIMEOUT_S = 0.25, 4.0
TIMINGS = ("--heartbeat-interval", f"{INTERVAL_S}s", "--heartbeat-timeout", f"{TIMEOUT_S}s")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        # A long scheduler interval: liveness deadlines must drive the timer.
        c.start_master(*TIMINGS, "--scheduler-interval", "30s")
        yield c
    finally:
        c.stop()


async def _submit(cluster: Cluster) -> str:
    spec = common_pb2.JobSpec(scenario="test", live=True, duration_s=3600, output="rt.mp4")
    async with cluster.client() as c:
        return (await c.submit(spec)).job.id


async def _running(cluster: Cluster, job_id: str, pred: object) -> common_pb2.Job:
    return await wait_job(
        cluster,
        job_id,
        lambda j: j.state == RUNNING and j.progress.out_time_s > 0 and pred(j),  # type: ignore[operator]
        timeout=40,
        what="running",
    )


async def test_stopped_daemon_never_runs_the_job_twice(cluster: Cluster) -> None:
    a = cluster.start_worker("a")
    job_id = await _submit(cluster)
    await _running(cluster, job_id, lambda j: j.node_id == "a")
    cluster.start_worker("b")
    await cluster.wait_nodes(2)
    with FfmpegWatch(job_id) as watch:
        await asyncio.sleep(0.5)
        assert watch.most == 1
        a.signal(signal.SIGSTOP)  # the daemon alone: its ffmpeg is in a session of its own
        try:
            moved = await _running(cluster, job_id, lambda j: j.node_id == "b")
        finally:
            a.signal(signal.SIGCONT)
        await asyncio.sleep(3)  # the resumed daemon reconnects; attempt 1 must stay dead
    assert watch.most == 1, f"two ffmpeg of one job at once for {watch.overlap_s:.2f}s"
    assert len(watch.seen) == 2
    assert moved.attempt == 2 and moved.lost_attempts == 1
    a.wait_for(rf"fenced.*{job_id}", 5)
    # The stopped worker's ffmpeg was gone before the master declared it lost.
    assert cluster.master is not None
    lost = log_time(cluster.master.wait_for(r"node a lost", 1).string)
    first_pid = min(watch.seen)  # attempt 1 started first
    assert watch.last_seen[first_pid] < lost, (watch.last_seen[first_pid], lost)
    print(f"stalled worker's ffmpeg gone {lost - watch.last_seen[first_pid]:.2f}s before the loss")
    async with cluster.client() as c:
        job = await c.get(job_id)
        assert (job.state, job.node_id, job.attempt) == (RUNNING, "b", 2)
        await c.cancel(job_id)
    # A stream broken by the stall is an ordinary reconnect, not an error.
    for proc in (a, cluster.master):
        assert proc is not None
        noisy = [x for x in proc.lines if " ERROR " in x and "Internal error" in x]
        assert not noisy, noisy


async def test_short_stall_strands_no_job(cluster: Cluster) -> None:
    # Longer than the fence deadline (0.75 x timeout), shorter than the timeout:
    # the launcher kills ffmpeg, the daemon comes back before the master loses it.
    a = cluster.start_worker("a")
    job_id = await _submit(cluster)
    await _running(cluster, job_id, lambda j: j.node_id == "a")
    with FfmpegWatch(job_id) as watch:
        a.signal(signal.SIGSTOP)
        await asyncio.sleep(0.825 * TIMEOUT_S)
        a.signal(signal.SIGCONT)
        # Resolved at once: the worker reports the fenced run, its heartbeats stop
        # listing it, and the job runs again (here, on the same worker).
        job = await _running(cluster, job_id, lambda j: j.attempt == 2)
        await asyncio.sleep(1)
        assert len(watch.alive()) == 1
    assert watch.most == 1
    assert job.lost_attempts == 1
    full = None
    async with cluster.client() as c:
        full = await c.get(job_id)
        await c.cancel(job_id)
    reasons = " | ".join(e.reason for e in full.events)
    assert "fenced" in reasons or "no longer holds" in reasons, reasons


async def test_assign_held_in_a_partition_is_not_started(cluster: Cluster) -> None:
    proxy = TcpProxy(cluster.port)
    try:
        a = cluster.start_worker("a", master=f"127.0.0.1:{proxy.port}")
        await cluster.wait_nodes(1)
        proxy.pause()  # bytes are held both ways, nothing is closed
        job_id = await _submit(cluster)  # assigned to a; the Assign waits in the proxy
        with FfmpegWatch(job_id) as watch:
            await wait_job(
                cluster, job_id, lambda j: j.attempt == 1 and j.state != RUNNING, timeout=10
            )
            await wait_job(
                cluster, job_id, lambda j: j.state == common_pb2.JOB_STATE_QUEUED, timeout=20
            )
            cluster.start_worker("b")
            await _running(cluster, job_id, lambda j: j.node_id == "b" and j.attempt == 2)
            proxy.resume()  # the stale Assign reaches a now
            a.wait_for(rf"fenced: job {job_id} attempt 1 dropped: contact .* not fresh", 15)
            await asyncio.sleep(2)
        assert watch.most == 1 and len(watch.seen) == 1
        async with cluster.client() as c:
            job = await c.get(job_id)
            assert (job.state, job.node_id, job.attempt) == (RUNNING, "b", 2)
            await c.cancel(job_id)
    finally:
        proxy.close()


async def test_master_restart_costs_no_attempt(tmp_path: Path) -> None:
    # Down for half the fence window: workers reconnect (at most timeout/8 apart)
    # and keep their runs; before, a doubling backoff outlived the fence deadline.
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    timings = ("--heartbeat-interval", "0.5s", "--heartbeat-timeout", "12s")
    try:
        c.start_master(*timings)
        a = c.start_worker("a")
        job_id = await _submit(c)
        await _running(c, job_id, lambda j: j.node_id == "a")
        port = c.port
        assert c.master is not None
        c.master.kill()
        await asyncio.sleep(4.5)
        c.start_master(*timings, port=port)
        await asyncio.sleep(3)
        job = await _running(c, job_id, lambda j: True)
        assert (job.node_id, job.attempt, job.lost_attempts) == ("a", 1, 0)
        assert not [x for x in a.lines if "fenced" in x]
        async with c.client() as cl:
            await cl.cancel(job_id)
    finally:
        c.stop()
