"""Master crashes, failing jobs and shutdowns, with real processes. Stale
leases, restarts and drains on the scheduler's side are tested
deterministically in tests/unit/test_sched_leases.py."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from grpc import aio

from ffrtmp.client import Client
from ffrtmp.v1 import common_pb2, nodes_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.jobs import TERMINAL, event_states, wait_job
from tests.helpers.media import ffmpeg_under_test
from tests.helpers.rtmp import RtmpReceiver, free_port
from tests.helpers.scrape import metrics

SUCCEEDED = common_pb2.JOB_STATE_SUCCEEDED
FAILED = common_pb2.JOB_STATE_FAILED


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    c = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        yield c
    finally:
        c.stop()


def _spec(seconds: float, name: str) -> common_pb2.JobSpec:
    return common_pb2.JobSpec(scenario="test", live=True, duration_s=seconds, output=f"{name}.mp4")


async def test_master_sigkill_loses_nothing_and_runs_nothing_twice(cluster: Cluster) -> None:
    cluster.start_master()
    cluster.start_worker("a")
    cluster.start_worker("b")
    await cluster.wait_nodes(2)
    ids = []
    async with cluster.client() as c:
        for i in range(8):  # two run at once, six wait in the queue
            ids.append((await c.submit(_spec(2 + i % 3, f"j{i}"), request_id=f"r{i}")).job.id)
    await wait_job(cluster, ids[0], lambda j: j.state == common_pb2.JOB_STATE_RUNNING)
    port = cluster.port
    cluster.master.kill()  # type: ignore[union-attr]
    await asyncio.sleep(1.0)
    cluster.start_master(port=port)
    for job_id in ids:
        await wait_job(
            cluster, job_id, lambda j: j.state in TERMINAL, timeout=120, what="a terminal state"
        )
    async with cluster.client() as c:
        jobs = [await c.get(i) for i in ids]
        listed = await c.list_all()
    assert len(listed) == len(ids)  # nothing lost, nothing created twice
    for job in jobs:
        assert job.state == SUCCEEDED, (job.id, job.error, job.events)
        assert event_states(job).count(SUCCEEDED) == 1
        out = cluster.output_dir(job.node_id) / job.owner / Path(job.output).name
        assert out.exists() and out.stat().st_size == job.output_bytes > 0


async def test_refused_rtmp_target_is_retried_until_it_listens(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.start_master("--retry-backoff", "2s")
    port = free_port()
    cluster.start_worker("a", "--rtmp-base", f"rtmp://127.0.0.1:{port}/live")
    async with cluster.client() as c:
        job = (
            await c.submit(
                common_pb2.JobSpec(scenario="test", live=True, duration_s=2, max_retries=5)
            )
        ).job
    waiting = await wait_job(
        cluster,
        job.id,
        lambda j: j.state == common_pb2.JOB_STATE_RETRY_WAIT,
        what="waiting to retry",
    )
    assert "refused" in waiting.error.lower()
    receiver = RtmpReceiver(port, "live", job.id, tmp_path / "got.flv")
    try:
        done = await wait_job(cluster, job.id, lambda j: j.state in TERMINAL, timeout=60)
        assert done.state == SUCCEEDED and done.attempt >= 2
        assert receiver.wait(20) == 0 and (tmp_path / "got.flv").stat().st_size > 0
        retries = [e for e in done.events if e.to_state == common_pb2.JOB_STATE_RETRY_WAIT]
        assert retries and all("refused" in e.reason.lower() for e in retries)
        assert metrics(cluster)["ffrtmp_recovery_retries_scheduled_total"] >= 1
    finally:
        receiver.stop()


async def test_missing_input_fails_once_with_its_reason(cluster: Cluster) -> None:
    cluster.start_master()
    cluster.start_worker("a")
    async with cluster.client() as c:
        job = (await c.submit(common_pb2.JobSpec(scenario="test", input="missing.mp4"))).job
    done = await wait_job(cluster, job.id, lambda j: j.state in TERMINAL)
    assert done.state == FAILED and done.attempt == 1
    assert done.failure_reason == "permanent failure"
    assert "no such file" in done.error.lower()
    assert done.exit_code != 0 and done.log_tail


async def test_retry_job_requeues_a_failed_job(cluster: Cluster) -> None:
    cluster.start_master()
    cluster.start_worker("a")
    inputs = cluster.root / "inputs"
    async with cluster.client() as c:
        job = (await c.submit(common_pb2.JobSpec(scenario="test", input="late.mp4"))).job
        await wait_job(cluster, job.id, lambda j: j.state == FAILED)
        # The operator supplies the input, then retries by hand.
        import subprocess

        subprocess.run(
            [
                ffmpeg_under_test(),
                "-v",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc2=size=160x120:rate=10",
                "-t",
                "1",
                str(inputs / "late.mp4"),
            ],
            check=True,
        )
        r = cluster.cli("jobs", "retry", job.id)
        assert r.returncode == 0, r.stderr
        done = await wait_job(cluster, job.id, lambda j: j.state in TERMINAL)
        assert done.state == SUCCEEDED and done.attempt == 2
        with pytest.raises(aio.AioRpcError) as info:
            await c.retry(job.id)
        assert info.value.code() == grpc.StatusCode.FAILED_PRECONDITION


async def _until_draining(c: Client, node_id: str, timeout: float = 20) -> None:
    """Until the master has heard the worker say it is draining."""
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if any(n.id == node_id and n.state == nodes_pb2.NODE_STATE_DRAINING
               for n in await c.list_nodes()):
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"node {node_id} never drained")


async def test_worker_sigterm_drains(cluster: Cluster) -> None:
    cluster.start_master()
    worker = cluster.start_worker("a")
    async with cluster.client() as c:
        first = (await c.submit(_spec(3, "first"))).job
        await wait_job(cluster, first.id, lambda j: j.state == common_pb2.JOB_STATE_RUNNING)
        worker.signal(signal.SIGTERM)
        await _until_draining(c, "a")
        second = (await c.submit(_spec(1, "second"))).job
        done = await wait_job(cluster, first.id, lambda j: j.state in TERMINAL)
        assert done.state == SUCCEEDED  # the running job finished
        assert worker.popen.wait(20) == 0  # then the worker left by itself
        waiting = await c.get(second.id)
        assert waiting.state == common_pb2.JOB_STATE_QUEUED  # and took nothing new
    cluster.start_worker("b")
    await wait_job(cluster, second.id, lambda j: j.state == SUCCEEDED)


async def test_master_sigterm_stops_intake_and_keeps_state(cluster: Cluster) -> None:
    master = cluster.start_master()
    async with cluster.client() as c:
        queued = (await c.submit(_spec(1, "kept"))).job
    master.signal(signal.SIGTERM)
    assert master.popen.wait(20) == 0
    cluster.start_master(port=cluster.port)
    async with cluster.client() as c:
        again = await c.get(queued.id)
    assert again.state == common_pb2.JOB_STATE_QUEUED


async def test_second_sigterm_exits_at_once(cluster: Cluster) -> None:
    cluster.start_master()
    worker = cluster.start_worker("a")
    async with cluster.client() as c:
        job = (await c.submit(_spec(3600, "long"))).job
        await wait_job(cluster, job.id, lambda j: j.state == common_pb2.JOB_STATE_RUNNING)
    worker.signal(signal.SIGTERM)
    await asyncio.sleep(0.5)
    assert worker.popen.poll() is None  # draining: the job is still running
    worker.signal(signal.SIGTERM)
    assert worker.popen.wait(10) is not None


async def test_stalled_run_is_killed_and_failed_as_transient(cluster: Cluster) -> None:
    import socket

    # An RTMP "server" that accepts and then says nothing: ffmpeg hangs in the handshake.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen()
    port = silent.getsockname()[1]
    try:
        cluster.start_master("--stall-timeout", "2s", "--max-retries", "0")
        cluster.start_worker("a")
        async with cluster.client() as c:
            job = (await c.submit(common_pb2.JobSpec(
                scenario="test", input=f"rtmp://127.0.0.1:{port}/live/nothing"))).job
        done = await wait_job(cluster, job.id, lambda j: j.state in TERMINAL, timeout=30)
        assert done.state == FAILED and done.attempt == 1
        assert "stalled" in done.error
        # Transient, so it would have been retried had retries been left.
        assert "retries exhausted" in done.failure_reason
    finally:
        silent.close()


async def test_runaway_job_is_stopped_by_its_time_limit(cluster: Cluster) -> None:
    cluster.start_master()
    cluster.start_worker("a")
    async with cluster.client() as c:
        spec = _spec(60, "runaway")
        spec.timeout_s = 2
        job = (await c.submit(spec)).job
    done = await wait_job(cluster, job.id, lambda j: j.state in TERMINAL, timeout=30)
    assert done.state == FAILED and done.attempt == 1  # permanent: not retried
    assert "timed out" in done.error
    ran = (done.updated_unix_ms - done.created_unix_ms) / 1000
    assert ran < 15
    assert not list((cluster.output_dir("a")).rglob("*runaway*"))


def test_live_jobs_get_a_default_time_limit() -> None:
    from ffrtmp.core.spec import RawSpec, resolve

    assert resolve(RawSpec(scenario="live-4k", duration_s=3600)).timeout_s == 3960
    assert resolve(RawSpec(scenario="live-1080p", duration_s=60)).timeout_s == 90
    assert resolve(RawSpec(scenario="test", duration_s=60)).timeout_s is None
