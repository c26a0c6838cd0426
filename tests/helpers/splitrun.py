"""Running split jobs in tests: a cluster for them, their spec, waiting for the
group to end, and every check a joined output must pass."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.media import decode_errors, probe_audio
from tests.helpers.splitcheck import frame_count, keyframe_times, silences, video_packets

SUCCEEDED = common_pb2.JOB_STATE_SUCCEEDED
FPS = 25


def split_cluster(
    root: Path, workers: int = 2, *, shared: bool = False, pinned: bool = False
) -> Cluster:
    """Workers with their own output roots, the segments meeting in the media
    store; or (`shared`) one output root and no stored outputs, the segments
    meeting there; `pinned`: each worker (and its ffmpeg) on a CPU of its own,
    so that a speed-up compares like with like. Stopped by the caller."""
    c = Cluster(root, make_certs(root / "certs"))
    c.start_master()
    extra = ["--output-root", str(root / "shared"), "--no-store-outputs"] if shared else []
    for i in range(workers):
        c.start_worker(f"w{i + 1}", *extra, cpu=i % (os.cpu_count() or 1) if pinned else None)
    return c


def split_spec(clip: str, seconds: float, segment: str, **kw: object) -> common_pb2.JobSpec:
    return common_pb2.JobSpec(
        scenario="test", input=clip, duration_s=seconds, fps=FPS, width=160, height=90,
        bitrate="120k", codec="h264", preset="veryfast", threads=1, split=segment,
        **kw,  # type: ignore[arg-type]
    )


async def wait_done(c: Cluster, job_id: str, timeout: float = 240) -> common_pb2.Job:
    async with c.client() as client:
        deadline = time.monotonic() + timeout
        while True:
            job = await client.get(job_id)
            if job.state in (SUCCEEDED, common_pb2.JOB_STATE_FAILED,
                             common_pb2.JOB_STATE_CANCELED):
                return job
            if time.monotonic() > deadline:
                raise AssertionError(f"split job not done in {timeout:g}s: {job}")
            await asyncio.sleep(0.2)


def check_joined(out: Path, clip_s: float, cuts: list[float]) -> None:
    """Everything a join must keep, measured on the output."""
    assert decode_errors(out) == ""
    assert frame_count(out) == round(clip_s * FPS)
    packets = video_packets(out)
    assert len(packets.pts) == round(clip_s * FPS)
    assert packets.gaps(FPS) == [], "timestamps skip or overlap at a join"
    end = float(max(packets.pts) + packets.durations[-1])
    assert abs(end - clip_s) <= 1 / FPS + 1e-9
    keys = keyframe_times(out)
    missing = [cut for cut in cuts if not any(abs(k - cut) < 1e-3 for k in keys)]
    assert missing == [], f"no keyframe at cuts {missing}"
    audio = probe_audio(out)
    assert audio is not None and audio.codec == "aac"
    assert silences(out) == [], "the audio falls silent somewhere (a join?)"
