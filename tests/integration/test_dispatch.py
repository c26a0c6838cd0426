"""Dispatch order and live pushes, on a cluster whose workers each test starts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from ffrtmp.core.priority import score
from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.media import decode_errors, probe_media
from tests.helpers.rtmp import RtmpReceiver, free_port


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root: Path = tmp_path_factory.mktemp("bare")
    c = Cluster(root, make_certs(root / "certs"))
    try:
        c.start_master()
        yield c
    finally:
        c.stop()


async def _wait_terminal(
    cluster: Cluster, ids: list[str], timeout: float = 120
) -> list[common_pb2.Job]:
    async with cluster.client() as c:
        for _ in range(int(timeout * 10)):
            jobs = [await c.get(i) for i in ids]
            if all(j.state in (4, 5, 6) for j in jobs):
                return jobs
            await asyncio.sleep(0.1)
    raise AssertionError(f"jobs not finished: {jobs}")


async def test_live_job_pushes_to_rtmp_receiver(bare: Cluster, tmp_path: Path) -> None:
    port = free_port()
    async with bare.client() as c:
        job = (
            await c.submit(
                common_pb2.JobSpec(scenario="test", live=True, duration_s=3, queue="live")
            )
        ).job
        assert job.spec.live
        queued = await c.get(job.id)
        assert queued.state == common_pb2.JOB_STATE_QUEUED
        assert "no worker" in queued.pending_reason
    # The default target is <rtmp base>/<job id>: the receiver listens exactly there.
    recv = RtmpReceiver(port, "live", job.id, tmp_path / "received.flv")
    worker = bare.start_worker("live1", "--rtmp-base", f"rtmp://127.0.0.1:{port}/live")
    try:
        [done] = await _wait_terminal(bare, [job.id])
        assert done.state == common_pb2.JOB_STATE_SUCCEEDED, done.error
        assert done.output == f"rtmp://127.0.0.1:{port}/live/{job.id}"
        assert recv.wait(30) == 0, recv.proc.stderr.read() if recv.proc.stderr else ""
        info = probe_media(recv.out)
        assert (info.width, info.height) == (320, 240)
        assert info.duration_s == pytest.approx(3, abs=0.5)
        assert decode_errors(recv.out) == ""
    finally:
        recv.stop()
        worker.stop()


async def test_one_worker_drains_backlog_in_priority_order(bare: Cluster) -> None:
    order = [
        ("batch", "low"),
        ("default", "medium"),
        ("live", "high"),
        ("batch", "high"),
        ("default", "high"),
        ("live", "low"),
        ("default", "medium"),
        ("live", "high"),
        ("batch", "low"),
    ]
    ids: list[str] = []
    async with bare.client() as c:
        for queue, priority in order:
            spec = common_pb2.JobSpec(
                scenario="test", duration_s=0.3, queue=queue, priority=priority, live=False
            )
            ids.append((await c.submit(spec)).job.id)
    worker = bare.start_worker("solo", slots=1)
    try:
        jobs = await _wait_terminal(bare, ids)
    finally:
        worker.stop()
    async with bare.client() as c:
        full = {j.id: await c.get(j.id) for j in jobs}
    assert all(j.state == common_pb2.JOB_STATE_SUCCEEDED for j in full.values())

    def started(job_id: str) -> int:
        return next(
            e.at_unix_ms for e in full[job_id].events if e.to_state == common_pb2.JOB_STATE_ASSIGNED
        )

    # Highest score first; FIFO (submission order) within a score.
    expected = sorted(range(len(ids)), key=lambda i: (-score(*order[i]), i))
    actual = sorted(range(len(ids)), key=lambda i: (started(ids[i]), i))
    assert actual == expected
