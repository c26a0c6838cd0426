"""Split transcodes end to end: a real master, two real workers, real ffmpeg.
A clip with audio is cut into segments encoded on both workers and joined; the
joined output must be indistinguishable in timing from one encode: the same
frame count and duration, a keyframe at every cut, no timestamp gap or overlap
at a join, audio without silences.

The quick case runs by default (workers sharing no directory, the segments
meeting in the media store); `make split` adds workers sharing an output root
with stored outputs off, and the full set in test_split_full.py (a 90 s clip,
VMAF against a single encode, a worker killed mid-segment, a master restarted
mid-plan)."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers.cluster import Cluster, make_certs
from tests.helpers.media import decode_errors, ffmpeg_under_test, probe_audio
from tests.helpers.splitcheck import keyframe_times, make_clip, silences, video_packets
from tests.helpers.splitrun import (
    FPS,
    SUCCEEDED,
    check_joined,
    split_cluster,
    split_spec,
    wait_done,
)

pytestmark = pytest.mark.media

@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("split")
    c = split_cluster(root, shared=True)
    try:
        yield c
    finally:
        c.stop()


@pytest.mark.skipif(os.environ.get("FFRTMP_SPLIT_FULL") != "1",
                    reason="the shared-output-root mode runs with `make split`")
async def test_a_split_job_runs_on_both_workers_and_joins_seamlessly(shared: Cluster) -> None:
    await shared.wait_nodes(2)
    make_clip(shared.root / "inputs" / "clip.mp4", 12)
    async with shared.client() as c:
        resp = await c.submit(split_spec("clip.mp4", 12, "3s", gop_s=1, output="films/clip.mp4"))
    assert resp.job.group
    job = await wait_done(shared, resp.job.id)
    assert job.state == SUCCEEDED, job
    audio, segments, join = job.children[0], list(job.children[1:-1]), job.children[-1]
    assert len(segments) == 4
    assert list(join.spec.concat) == [*(s.spec.output for s in segments), audio.spec.output]
    assert [s.spec.seek_s for s in segments] == [0, 3, 6, 9]
    # Both workers took part (one may spend the time on the audio part).
    assert {k.node_id for k in job.children[:-1]} == {"w1", "w2"}
    assert all(s.attempt == 1 for s in job.children)
    assert job.progress.percent == 100.0
    out = shared.root / "shared" / job.owner / "films" / "clip.mp4"
    check_joined(out, 12, [0.0, 3.0, 6.0, 9.0])


def test_the_cli_probes_a_local_input_for_its_length(tmp_path: Path) -> None:
    from ffrtmp.cli.probe import input_length

    clip = make_clip(tmp_path / "c.mp4", 3)
    length = input_length(str(clip))
    assert length is not None and abs(length - 3) < 0.1
    assert input_length(str(tmp_path / "absent.mp4")) is None
    (tmp_path / "junk.mp4").write_text("not media")
    assert input_length(str(tmp_path / "junk.mp4")) is None


@pytest.fixture(scope="module")
def hosts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Two workers that share no directory: their own input and output roots and
    caches; the segments meet in the master's media store."""
    root = tmp_path_factory.mktemp("split-hosts")
    c = Cluster(root, make_certs(root / "certs"))
    try:
        c.start_master()
        for name in ("w1", "w2"):
            c.start_worker(name, "--input-root", str(root / f"in-{name}"))
        yield c
    finally:
        c.stop()


async def test_workers_sharing_no_directory_join_through_the_media_store(
    hosts: Cluster, tmp_path: Path
) -> None:
    """From the CLI as a user would: a local file uploaded, its length and its
    (irregular) keyframes probed, split over both workers at the keyframes near
    each 3 s boundary (none near 9 s: the grid), the result fetched back."""
    await hosts.wait_nodes(2)
    clip = make_clip(tmp_path / "clip.mp4", 12, keyframes=[0, 2.6, 5.32, 7.72, 10.4])
    done = hosts.cli("-o", "json", "jobs", "submit", "--scenario", "test", "--input", str(clip),
                     "--width", "160", "--height", "90", "--fps", str(FPS), "--gop", "1",
                     "--bitrate", "120k", "--threads", "1", "--split", "3s",
                     "--output", "clip.mp4", "--wait", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    group = json.loads(done.stdout)
    assert group["state"] == "SUCCEEDED" and group["group"] and group["duration_s"] == 12
    segments, join = group["children"][1:-1], group["children"][-1]
    cuts = [0.0, 2.6, 5.32, 9.0]
    assert [s["seek_s"] for s in segments] == cuts
    assert {k["node_id"] for k in group["children"][:-1]} == {"w1", "w2"}
    for name in ("w1", "w2"):  # neither worker holds every part: they met in the store
        local = list(hosts.output_dir(name).rglob("clip.parts/*.mp4"))
        assert 0 < len(local) < 5, (name, local)  # 4 segments and the audio
    fetched = hosts.cli("jobs", "fetch", group["id"], "-o", str(tmp_path / "got"))
    assert fetched.returncode == 0, fetched.stderr
    assert join["output"].endswith("clip.mp4")
    check_joined(tmp_path / "got" / "clip.mp4", 12, cuts)


async def test_an_input_without_audio_splits_and_joins_without_audio(
    hosts: Cluster, tmp_path: Path
) -> None:
    """The audio part of an input that has none writes a placeholder the join
    maps no audio from: the result is the video alone, every frame of it."""
    await hosts.wait_nodes(2)
    clip = tmp_path / "mute.mp4"
    made = subprocess.run(
        [ffmpeg_under_test(), "-hide_banner", "-y", "-f", "lavfi", "-i",
         f"testsrc2=size=160x90:rate={FPS}", "-t", "6", "-c:v", "libx264", "-g", str(FPS),
         "-pix_fmt", "yuv420p", str(clip)], capture_output=True, text=True, check=False)
    assert made.returncode == 0, made.stderr[-2000:]
    done = hosts.cli("-o", "json", "jobs", "submit", "--scenario", "test", "--input", str(clip),
                     "--width", "160", "--height", "90", "--fps", str(FPS), "--gop", "1",
                     "--bitrate", "120k", "--threads", "1", "--split", "3s",
                     "--output", "mute.mp4", "--wait", timeout=240)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    group = json.loads(done.stdout)
    assert group["state"] == "SUCCEEDED" and len(group["children"]) == 4  # audio, 2 parts, join
    fetched = hosts.cli("jobs", "fetch", group["id"], "-o", str(tmp_path / "got"))
    assert fetched.returncode == 0, fetched.stderr
    out = tmp_path / "got" / "mute.mp4"
    assert probe_audio(out) is None
    assert len(video_packets(out).pts) == 6 * FPS
    assert decode_errors(out) == ""


def test_the_cli_finds_keyframes_and_scene_changes(tmp_path: Path) -> None:
    from ffrtmp.cli.probe import keyframes, scene_changes

    clip = make_clip(tmp_path / "k.mp4", 6, keyframes=[0, 1.4, 4.24])
    assert keyframes(str(clip)) == [0.0, 1.4, 4.24]
    scenes = make_clip(tmp_path / "s.mp4", 6, scenes=3)  # changes at 2 and 4 s
    assert scene_changes(str(scenes), 10) == [2.0, 4.0]
    assert keyframes(str(tmp_path / "absent.mp4")) == scene_changes("absent.mp4", 10) == []


@pytest.mark.skipif(os.environ.get("FFRTMP_SPLIT_FULL") != "1",
                    reason="a whole split cut at scene changes runs with `make split`")
async def test_scene_aware_cuts_land_on_the_scene_changes(hosts: Cluster, tmp_path: Path) -> None:
    """--split-scenes: hard scene changes every 2.4 s, keyframes every 2 s; the
    cuts near 3 s and 9 s move to the scene changes, the one at 6 s has none
    near it (within 0.75 s) and stays."""
    await hosts.wait_nodes(2)
    clip = make_clip(tmp_path / "scenes.mp4", 12, scenes=5)
    done = hosts.cli("-o", "json", "jobs", "submit", "--scenario", "test", "--input", str(clip),
                     "--width", "160", "--height", "90", "--fps", str(FPS), "--gop", "1",
                     "--bitrate", "120k", "--threads", "1", "--split", "3s", "--split-scenes",
                     "--output", "scenes.mp4", "--wait", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    group = json.loads(done.stdout)
    assert group["state"] == "SUCCEEDED", group
    cuts = [0.0, 2.4, 6.0, 9.6]
    assert [s["seek_s"] for s in group["children"][1:-1]] == cuts
    fetched = hosts.cli("jobs", "fetch", group["id"], "-o", str(tmp_path / "got"))
    assert fetched.returncode == 0, fetched.stderr
    check_joined(tmp_path / "got" / "scenes.mp4", 12, cuts)


async def test_a_two_pass_split_hits_its_bitrate(hosts: Cluster, tmp_path: Path) -> None:
    """--passes 2: every segment runs both passes on its own worker; the joined
    video's bitrate is within 10 % of the target (one pass: 14 % over here)."""
    await hosts.wait_nodes(2)
    clip = make_clip(tmp_path / "clip2.mp4", 8)
    done = hosts.cli("-o", "json", "jobs", "submit", "--scenario", "test", "--input", str(clip),
                     "--width", "160", "--height", "90", "--fps", str(FPS), "--gop", "1",
                     "--bitrate", "120k", "--threads", "1", "--split", "4s", "--passes", "2",
                     "--output", "twopass.mp4", "--wait", timeout=240)
    assert done.returncode == 0, done.stdout + done.stderr
    group = json.loads(done.stdout)
    assert group["state"] == "SUCCEEDED" and group["passes"] == 2, group
    fetched = hosts.cli("jobs", "fetch", group["id"], "-o", str(tmp_path / "got"))
    assert fetched.returncode == 0, fetched.stderr
    out = tmp_path / "got" / "twopass.mp4"
    check_joined(out, 8, [s["seek_s"] for s in group["children"][1:-1]])
    rate = video_packets(out).bitrate()
    print(f"\ntwo-pass split: {rate / 1000:.1f} kb/s for a 120 kb/s target")
    assert abs(rate - 120_000) <= 0.10 * 120_000, rate
    for name in ("w1", "w2"):  # no pass log left behind
        assert not [p for p in hosts.output_dir(name).rglob("*passlog*")], name


def test_the_join_checks_catch_what_a_bad_join_does(tmp_path: Path) -> None:
    """Each check fails on the fault it is there for: a timestamp jump, a silence,
    a cut without a keyframe (so a passing split proves something)."""
    from tests.helpers.splitcheck import _run

    bad = tmp_path / "bad.mp4"
    r = _run("-y", "-f", "lavfi", "-i", f"testsrc2=size=160x90:rate={FPS}", "-f", "lavfi",
             "-i", "sine=frequency=440:sample_rate=48000", "-t", "6",
             "-vf", f"setpts='PTS+if(gte(N,{2 * FPS}),{FPS // 5},0)'", "-fps_mode", "passthrough",
             "-af", "volume=enable='between(t,3,3.3)':volume=0",
             "-c:v", "libx264", "-g", "1000", "-c:a", "aac", str(bad))
    assert r.returncode == 0, r.stderr[-1500:]
    assert [round(at, 2) for at, _ in video_packets(bad).gaps(FPS)] == [1.96]
    assert len(silences(bad)) == 1
    assert keyframe_times(bad) == [0.0]  # no keyframe at a 2 s cut
    with pytest.raises(AssertionError):
        check_joined(bad, 6, [0.0, 2.0, 4.0])
