"""The cluster end to end: a real master, two real workers, real ffmpeg."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import psutil
import pytest

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster
from tests.helpers.media import decode_errors, probe_media

# Real ffmpeg runs: repeated on the distribution's build (see tests/helpers/media.py).
pytestmark = pytest.mark.media

SUCCEEDED = common_pb2.JOB_STATE_SUCCEEDED


async def _wait_state(
    cluster: Cluster, job_id: str, state: int, timeout: float = 60
) -> common_pb2.Job:
    async with cluster.client() as c:
        deadline = time.monotonic() + timeout
        while True:
            job = await c.get(job_id)
            if job.state == state:
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"job never reached {state}: {job}")
            await asyncio.sleep(0.1)


def _output_file(cluster: Cluster, job: common_pb2.Job) -> Path:
    path = Path(job.output)
    assert path.is_relative_to(cluster.output_dir(job.node_id)), job.output
    return path


async def test_file_job_succeeds_and_decodes_at_requested_size(cluster: Cluster) -> None:
    await cluster.wait_nodes(2)
    spec = common_pb2.JobSpec(
        scenario="test",
        width=256,
        height=144,
        fps=12,
        duration_s=1.5,
        bitrate="300k",
        output="sized/clip.mp4",
    )
    async with cluster.client() as c:
        resp = await c.submit(spec)
        states = [job.state async for job in c.watch(resp.job.id)]
    assert states[-1] == SUCCEEDED
    assert common_pb2.JOB_STATE_RUNNING in states
    job = await _wait_state(cluster, resp.job.id, SUCCEEDED)
    assert job.attempt == 1 and job.node_id in ("w1", "w2")
    assert job.progress.percent == pytest.approx(100, abs=0.5)
    out = _output_file(cluster, job)
    assert out.name == "clip.mp4" and job.output_bytes == out.stat().st_size > 0
    info = probe_media(out)
    assert (info.width, info.height, info.video_codec) == (256, 144, "h264")
    assert info.duration_s == pytest.approx(1.5, abs=0.15)
    assert decode_errors(out) == ""
    # The history holds every transition in order.
    async with cluster.client() as c:
        full = await c.get(job.id)
    path = [(e.from_state, e.to_state) for e in full.events]
    assert [to for _, to in path] == [
        common_pb2.JOB_STATE_QUEUED,
        common_pb2.JOB_STATE_ASSIGNED,
        common_pb2.JOB_STATE_RUNNING,
        SUCCEEDED,
    ]


async def test_submit_is_idempotent_on_request_id(cluster: Cluster) -> None:
    spec = common_pb2.JobSpec(scenario="test", duration_s=0.5)
    async with cluster.client() as c:
        first = await c.submit(spec, request_id="once-only-42")
        again = await c.submit(spec, request_id="once-only-42")
        assert first.created and not again.created
        assert first.job.id == again.job.id
        listed = await c.list_all()
    assert sum(1 for j in listed if j.request_id == "once-only-42") == 1


def _ffmpeg_children(worker_pid: int, needle: str) -> list[psutil.Process]:
    found = []
    for p in psutil.Process(worker_pid).children(recursive=True):
        try:
            if any(needle in part for part in p.cmdline()):
                found.append(p)
        except psutil.NoSuchProcess:
            pass
    return found


async def test_cancel_kills_running_ffmpeg(cluster: Cluster) -> None:
    # An hour of output: it runs until canceled.
    spec = common_pb2.JobSpec(scenario="test", duration_s=3600, live=False, output="long.mp4")
    async with cluster.client() as c:
        job = (await c.submit(spec)).job
        job = await _wait_state(cluster, job.id, common_pb2.JOB_STATE_RUNNING)
        worker = cluster.workers[job.node_id]
        procs: list[psutil.Process] = []
        for _ in range(50):
            procs = _ffmpeg_children(worker.pid, job.id)
            if procs:
                break
            await asyncio.sleep(0.1)
        assert procs, "no ffmpeg process found for the running job"
        out_dir = cluster.output_dir(job.node_id) / job.owner
        # While it runs, ffmpeg writes a hidden partial file, never the final name.
        partial = out_dir / f".long.{job.id}-1.partial.mp4"
        for _ in range(50):
            if partial.exists():
                break
            await asyncio.sleep(0.1)
        assert partial.exists() and not (out_dir / "long.mp4").exists()
        t0 = time.monotonic()
        canceled = await c.cancel(job.id, "test cancel")
        assert canceled.state == common_pb2.JOB_STATE_CANCELED
        _, alive = psutil.wait_procs(procs, timeout=5)
        assert not alive, "ffmpeg still running 5 s after the cancel"
        assert time.monotonic() - t0 < 5
        # The partial output is removed once the worker has stopped the run.
        for _ in range(50):
            if not list(out_dir.glob("*long*")):
                break
            await asyncio.sleep(0.1)
        assert not list(out_dir.glob("*long*"))
        again = await c.get(job.id)
        assert again.state == common_pb2.JOB_STATE_CANCELED


def test_cli_json_output_and_exit_codes(cluster: Cluster) -> None:
    r = cluster.cli(
        "-o",
        "json",
        "jobs",
        "submit",
        "--scenario",
        "test",
        "--duration",
        "0.5",
        "--queue",
        "live",
        "--priority",
        "high",
        "--no-live",
        "--wait",
    )
    assert r.returncode == 0, r.stderr
    job = json.loads(r.stdout)
    assert job["state"] == "SUCCEEDED" and job["queue"] == "live" and job["priority"] == "high"
    assert {"id", "state", "queue", "priority", "node_id", "attempt"} <= job.keys()
    r = cluster.cli("-o", "json", "jobs", "list")
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert isinstance(rows, list) and any(row["id"] == job["id"] for row in rows)
    r = cluster.cli("-o", "json", "jobs", "status")
    assert r.returncode == 0 and isinstance(json.loads(r.stdout), list)
    r = cluster.cli("-o", "json", "nodes", "list")
    assert {n["id"] for n in json.loads(r.stdout)} == {"w1", "w2"}
    r = cluster.cli("jobs", "get", "does-not-exist")
    assert r.returncode == 1 and "NOT_FOUND" in r.stderr and "Traceback" not in r.stderr
    r = cluster.cli("jobs", "cancel", job["id"])
    assert r.returncode == 1 and "FAILED_PRECONDITION" in r.stderr
    r = cluster.cli("jobs", "submit", "--scenario", "nope")
    assert r.returncode == 1 and "INVALID_ARGUMENT" in r.stderr and "test" in r.stderr
