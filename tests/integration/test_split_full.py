"""The full proof of split transcodes, behind `make split` (FFRTMP_SPLIT_FULL=1):
a 90 s clip with audio in 9 segments over two workers with their own output
roots (the segments meet in the media store).

* quality: VMAF (libvmaf) of the joined output against the clip, within 0.5 of a
  single encode of the same spec (same bitrate, cap, buffer and GOP) on one worker;
  every ffmpeg pinned to one thread, the wall times give the speed-up figure;
* faults: a worker SIGKILLed mid-segment and the master SIGKILLed and restarted
  mid-plan: the result has the same frame count and decodes, and no segment that
  had succeeded is encoded again (encodes counted from the job histories).

Figures are printed (run with -s; `make split` does)."""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ffrtmp.v1 import common_pb2
from tests.helpers.cluster import Cluster
from tests.helpers.splitcheck import frame_count, make_clip, vmaf
from tests.helpers.splitrun import (
    FPS,
    SUCCEEDED,
    check_joined,
    split_cluster,
    split_spec,
    wait_done,
)

pytestmark = [
    pytest.mark.media,
    pytest.mark.slow,
    pytest.mark.skipif(os.environ.get("FFRTMP_SPLIT_FULL") != "1",
                       reason="the full split proof runs with `make split`"),
]

CLIP_S = 90
RUNNING = common_pb2.JOB_STATE_RUNNING


@pytest.fixture
def two(tmp_path: Path) -> Iterator[Cluster]:
    c = split_cluster(tmp_path)
    try:
        make_clip(tmp_path / "inputs" / "clip.mp4", CLIP_S, size="320x180")
        yield c
    finally:
        c.stop()


def _spec(split: str, output: str) -> common_pb2.JobSpec:
    spec = split_spec("clip.mp4", CLIP_S, split, output=output, gop_s=2, maxrate="450k",
                      bufsize="900k")
    spec.width, spec.height, spec.bitrate = 320, 180, "300k"
    return spec


def _wall_s(job: common_pb2.Job) -> float:
    return (job.updated_unix_ms - job.created_unix_ms) / 1000


def _run_s(job: common_pb2.Job) -> float:
    """From ffmpeg's start to the job's success."""
    start = next(e.at_unix_ms for e in job.events if e.to_state == RUNNING)
    end = next(e.at_unix_ms for e in job.events if e.to_state == SUCCEEDED)
    return (end - start) / 1000


def _encodes(job: common_pb2.Job) -> int:
    return sum(e.to_state == RUNNING for e in job.events)


async def test_split_quality_and_speed_match_one_encode(two: Cluster) -> None:
    await two.wait_nodes(2)
    async with two.client() as c:
        single = (await c.submit(_spec("", "single.mp4"))).job
        single = await wait_done(two, single.id)
        split = (await c.submit(_spec("10s", "split.mp4"))).job
        split = await wait_done(two, split.id)
        children = [await c.get(k.id) for k in split.children]
    assert single.state == SUCCEEDED and split.state == SUCCEEDED, (single, split)
    one, joined = Path(single.output), Path(split.children[-1].output)
    clip = two.root / "inputs" / "clip.mp4"
    segments, join = children[1:-1], children[-1]
    check_joined(joined, CLIP_S, [s.spec.seek_s for s in segments])
    assert frame_count(one) == frame_count(joined) == CLIP_S * FPS
    v_single, v_split = vmaf(one, clip), vmaf(joined, clip)
    seg_s = [_run_s(s) for s in segments]
    figures = {
        "segments": len(segments),
        "vmaf_single": round(v_single, 3),
        "vmaf_split": round(v_split, 3),
        "wall_single_s": _wall_s(single),
        "wall_split_s": _wall_s(split),
        "speedup_2_workers": round(_wall_s(single) / _wall_s(split), 2),
        "segment_encode_s": [round(s, 2) for s in seg_s],
        "join_s": _run_s(join),
        "size_single": single.output_bytes,
        "size_split": join.output_bytes,
    }
    print("\nsplit figures:", json.dumps(figures))
    assert abs(v_split - v_single) <= 0.5, figures


async def test_a_killed_worker_and_a_restarted_master_redo_no_finished_segment(
    two: Cluster,
) -> None:
    await two.wait_nodes(2)
    async with two.client() as c:
        group = (await c.submit(_spec("10s", "chaos.mp4"))).job
        # Wait for two finished segments and one running on w1.
        deadline = time.monotonic() + 180
        while True:
            job = await c.get(group.id)
            done = [k for k in job.children if k.state == SUCCEEDED]
            on_w1 = [k for k in job.children if k.state == RUNNING and k.node_id == "w1"]
            if len(done) >= 2 and on_w1:
                break
            assert time.monotonic() < deadline, job
            await asyncio.sleep(0.05)
    two.workers["w1"].kill()  # mid-segment
    await asyncio.sleep(0.5)
    async with two.client() as c:
        before = {k.id: k for k in (await c.get(group.id)).children if k.state == SUCCEEDED}
    port = two.port
    two.master.kill()  # type: ignore[union-attr]  # mid-plan
    await asyncio.sleep(1.0)
    two.start_master(port=port)
    two.start_worker("w1")
    job = await wait_done(two, group.id, timeout=300)
    assert job.state == SUCCEEDED, [(k.state, k.attempt, k.error) for k in job.children[-4:]]
    async with two.client() as c:
        children = [await c.get(k.id) for k in job.children]
    for k in children:
        if k.id in before:  # finished before the faults: never encoded again
            assert (k.attempt, _encodes(k)) == (before[k.id].attempt, 1), k.events
    killed = next(k for k in children if k.id == on_w1[0].id)
    assert killed.attempt >= 2
    encodes = sum(_encodes(k) for k in children)
    print(f"\nsplit under faults: {len(children) - 2} segments + audio + join, {encodes} encodes "
          f"({len(before)} finished before the faults, never redone)")
    check_joined(Path(children[-1].output), CLIP_S, [k.spec.seek_s for k in children[1:-1]])


def _timeline(group: common_pb2.Job, kids: list[common_pb2.Job]) -> list[tuple[str, ...]]:
    """Per child, from the group's creation: (node, started, ended) in seconds,
    to see where a split's wall time goes (waiting, dispatch, the join)."""
    t0 = group.created_unix_ms

    def at(k: common_pb2.Job, state: int) -> str:
        return f"{(next(e.at_unix_ms for e in k.events if e.to_state == state) - t0) / 1000:.2f}"

    return [(k.node_id, at(k, RUNNING), at(k, SUCCEEDED)) for k in kids]


def _makespan(times: list[float], workers: int) -> float:
    """Segments handed to the first free worker, in order (as dispatch does)."""
    free = [0.0] * workers
    for t in times:
        i = free.index(min(free))
        free[i] += t
    return max(free)


@pytest.mark.skipif(os.environ.get("FFRTMP_SPLIT_BENCH") != "1",
                    reason="the speed-up figure runs with `make split-bench`")
@pytest.mark.timeout(900)  # a loaded host can take minutes over the two runs
async def test_split_speedup_on_two_workers(tmp_path: Path) -> None:
    """Wall time of one encode on one worker against the same job split over two,
    every ffmpeg on one thread; then, from the measured per-segment times and the
    join, what 10 and 50 workers would take on a two-hour input of this kind."""
    # 720p by default: at 640x360 the encode is light enough that the audio part
    # (the same work at any size) is a tenth of a worker's share.
    clip_s, size = 60, os.environ.get("FFRTMP_SPLIT_BENCH_SIZE", "1280x720")
    width, height = (int(v) for v in size.split("x"))
    kbps = max(300, width * height * 2500 // (1280 * 720 * 100) * 100)
    segment = os.environ.get("FFRTMP_SPLIT_BENCH_SEGMENT", "10s")
    c = split_cluster(tmp_path, pinned=True)
    try:
        make_clip(tmp_path / "inputs" / "clip.mp4", clip_s, size=size)
        await c.wait_nodes(2)

        def spec(split: str, output: str) -> common_pb2.JobSpec:
            s = split_spec("clip.mp4", clip_s, split, output=output, gop_s=2)
            s.width, s.height, s.bitrate, s.preset = width, height, f"{kbps}k", "medium"
            s.maxrate, s.bufsize = f"{kbps * 3 // 2}k", f"{kbps * 3}k"
            return s

        async with c.client() as client:
            single = await wait_done(c, (await client.submit(spec("", "one.mp4"))).job.id, 420)
            split = await wait_done(c, (await client.submit(spec(segment, "two.mp4"))).job.id, 420)
            kids = [await client.get(k.id) for k in split.children]
    finally:
        c.stop()
    assert single.state == SUCCEEDED and split.state == SUCCEEDED
    seg_s, audio_s, join_s = [_run_s(k) for k in kids[1:-1]], _run_s(kids[0]), _run_s(kids[-1])
    film_s = 7200
    scale = film_s / clip_s
    one = _run_s(single) * scale
    film_parts = [audio_s * scale] + [sum(seg_s) / clip_s * 10] * (film_s // 10)
    figures = {
        "clip_s": clip_s, "size": size, "segment": segment, "segments": len(seg_s),
        "wall_1_worker_s": _wall_s(single), "wall_2_workers_s": _wall_s(split),
        "speedup_2": round(_wall_s(single) / _wall_s(split), 2),
        "segment_encode_s": [round(s, 2) for s in seg_s],
        "segments_sum_s": round(sum(seg_s), 1), "single_encode_s": round(_run_s(single), 1),
        "audio_s": round(audio_s, 2), "join_s": round(join_s, 2),
        "timeline": _timeline(split, kids),
        # The segments (10 s each, at the measured rate) and the audio on n workers,
        # then the join, which grows with the output.
        "projection_2h_film": {
            str(n): round(one / (_makespan(film_parts, n) + join_s * scale), 1)
            for n in (2, 10, 50)
        },
    }
    print("\nsplit speed-up:", json.dumps(figures))
