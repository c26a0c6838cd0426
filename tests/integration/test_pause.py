"""Pause stops a job's ffmpeg without losing its lease; resume lets it go on."""

from __future__ import annotations

import asyncio
from pathlib import Path

import psutil
import pytest

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.jobs import TERMINAL, wait_job

# Real ffmpeg runs: repeated on the distribution's build (see tests/helpers/media.py).
pytestmark = pytest.mark.media

RUNNING, PAUSED = common_pb2.JOB_STATE_RUNNING, common_pb2.JOB_STATE_PAUSED


async def test_pause_stops_progress_and_resume_restarts_it(tmp_path: Path) -> None:
    cluster = Cluster(tmp_path, make_certs(tmp_path / "certs"))
    try:
        # A stall timeout shorter than the pause: a paused job must not count as stalled.
        cluster.start_master("--stall-timeout", "2s")
        worker = cluster.start_worker("a")
        spec = common_pb2.JobSpec(scenario="test", live=True, duration_s=6, output="p.mp4")
        async with cluster.client() as c:
            job = (await c.submit(spec)).job
            await wait_job(
                cluster, job.id, lambda j: j.state == RUNNING and j.progress.out_time_s > 0.5
            )
            r = cluster.cli("-o", "json", "jobs", "pause", job.id)
            assert r.returncode == 0, r.stderr
            assert '"state": "PAUSED"' in r.stdout
            stopped = False
            for _ in range(50):  # the worker gets the Pause a moment after the state changes
                ffmpeg = [
                    p
                    for p in psutil.Process(worker.pid).children(recursive=True)
                    if "ffmpeg" in p.name()
                ]
                stopped = bool(ffmpeg) and all(p.status() == psutil.STATUS_STOPPED for p in ffmpeg)
                if stopped:
                    break
                await asyncio.sleep(0.1)
            assert stopped
            before = (await c.get(job.id)).progress.out_time_s
            await asyncio.sleep(3)
            paused = await c.get(job.id)
            assert paused.state == PAUSED and paused.attempt == 1
            assert paused.progress.out_time_s == before  # no progress while paused
            r = cluster.cli("jobs", "resume", job.id)
            assert r.returncode == 0, r.stderr
            await wait_job(
                cluster,
                job.id,
                lambda j: j.state == RUNNING and j.progress.out_time_s > before + 0.5,
            )
            done = await wait_job(cluster, job.id, lambda j: j.state in TERMINAL, timeout=30)
            assert done.state == common_pb2.JOB_STATE_SUCCEEDED and done.attempt == 1
            r = cluster.cli("jobs", "resume", job.id)
            assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr
    finally:
        cluster.stop()
