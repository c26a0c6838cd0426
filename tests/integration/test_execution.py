"""One Execution on this host with the real ffmpeg: per-job limits, the disk check,
staged HLS directories, the output probe, and the encoders' translated flags."""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ffrtmp.core.argv import build_argv
from ffrtmp.core.ffmpeg_build import FfmpegFeatures
from ffrtmp.core.model import AttemptResult, JobSpec, Lease, Outcome, ProgressInfo, Rendition
from ffrtmp.worker.execution import Environment, Execution
from ffrtmp.worker.probe import parse_encoders
from ffrtmp.worker.runner import FfmpegRun
from ffrtmp.worker.staging import OutputExists, Staged, partial_dir, remove, sweep_partials
from tests.helpers.media import decode_errors, ffmpeg_under_test, lacks, probe_media
from tests.helpers.runs import EXEC_SPEC as SPEC
from tests.helpers.runs import env_for

# Real ffmpeg runs: repeated on the distribution's build (see tests/helpers/media.py).
pytestmark = pytest.mark.media

FFMPEG = ffmpeg_under_test()
ENCODERS = parse_encoders(
    subprocess.run(
        [FFMPEG, "-hide_banner", "-encoders"], capture_output=True, text=True, check=True
    ).stdout
)



async def execute(spec: JobSpec, env: Environment, nices: list[int] | None = None) -> AttemptResult:
    """Run one job; `nices` collects the nice level ffmpeg started with."""

    def started(pid: int) -> None:
        if nices is not None:
            nices.append(os.getpriority(os.PRIO_PROCESS, pid))

    run = Execution(Lease("job1", 1), spec)
    return await run.run(env, on_started=started, on_progress=lambda p: None)


async def test_disk_nearly_full_refuses_transiently(tmp_path: Path) -> None:
    env = env_for(tmp_path, min_free_bytes=1 << 62)
    report = await execute(SPEC, env)
    assert (report.outcome, report.error_class) == (Outcome.FAILED, "transient")
    assert report.error.startswith("output disk nearly full: ") and "MiB free" in report.error
    assert not (tmp_path / "out").exists() or not list((tmp_path / "out").rglob("*"))
    # Pushes and null outputs write nothing locally: no check.
    null = await execute(replace(SPEC, output="null:"), env)
    assert null.outcome is Outcome.SUCCEEDED, null.error


@pytest.mark.parametrize(("job_nice", "worker_nice", "expected"), [(None, 5, 5), (15, 5, 15)])
async def test_nice_level(
    tmp_path: Path, job_nice: int | None, worker_nice: int, expected: int
) -> None:
    base = os.getpriority(os.PRIO_PROCESS, 0)
    seen: list[int] = []
    report = await execute(
        replace(SPEC, nice=job_nice, output="null:"), env_for(tmp_path, nice=worker_nice), seen
    )
    assert report.outcome is Outcome.SUCCEEDED
    assert seen == [max(base, expected)]  # an unprivileged worker can only lower priority


async def test_threads_reach_ffmpeg(tmp_path: Path) -> None:
    argv = build_argv(FFMPEG, replace(SPEC, threads=1), input_url="", output_url="-", encoder="x")
    assert argv[argv.index("-threads") + 1] == "1"
    report = await execute(replace(SPEC, threads=1, output="null:"), env_for(tmp_path))
    assert report.outcome is Outcome.SUCCEEDED


async def test_file_report_carries_the_probe(tmp_path: Path) -> None:
    report = await execute(replace(SPEC, output="a/b.mkv"), env_for(tmp_path))
    assert report.outcome is Outcome.SUCCEEDED, report.error
    info = report.output_info
    assert info is not None and info.format == "matroska,webm"
    assert info.size_bytes == report.output_bytes == (tmp_path / "out/a/b.mkv").stat().st_size
    assert info.duration_s == pytest.approx(1.0, abs=0.1)
    video, audio = info.streams
    assert (video.kind, video.codec, video.width, video.height, video.fps) == (
        "video",
        "h264",
        160,
        120,
        10.0,
    )
    assert (audio.kind, audio.codec, audio.sample_rate) == ("audio", "aac", 48000)


async def test_hls_report_carries_every_rendition(tmp_path: Path) -> None:
    spec = replace(
        SPEC,
        output="hls/show/",
        duration_s=2,
        renditions=(Rendition(320, 180, "300k"), Rendition(160, 90, "100k")),
    )
    report = await execute(spec, env_for(tmp_path))
    assert report.outcome is Outcome.SUCCEEDED, report.error
    directory = tmp_path / "out/hls/show"
    assert report.output == str(directory / "master.m3u8")
    assert report.output_bytes == sum(p.stat().st_size for p in directory.iterdir())
    assert report.output_info is not None and report.output_info.format == "hls"
    sizes = [(s.width, s.height) for s in report.output_info.streams if s.kind == "video"]
    assert sizes == [(320, 180), (160, 90)]
    assert sweep_partials(tmp_path / "out") == 0


async def test_canceled_hls_leaves_no_partial_directory(tmp_path: Path) -> None:
    spec = replace(SPEC, output="hls/live/", live=True, duration_s=60)
    env = env_for(tmp_path)
    run = Execution(Lease("job1", 1), spec)
    task = asyncio.create_task(run.run(env, on_started=lambda pid: None, on_progress=print))
    partial = partial_dir(tmp_path / "out/hls/live", Lease("job1", 1))
    deadline = time.monotonic() + 20
    while not list(partial.glob("*.ts")):
        assert time.monotonic() < deadline and not task.done(), "no segment written"
        await asyncio.sleep(0.1)
    assert run.ffmpeg is not None
    await run.ffmpeg.cancel(grace=3)
    report = await task
    assert report.outcome is Outcome.CANCELED
    assert not partial.exists() and not (tmp_path / "out/hls/live").exists()


def test_staged_directory_replaces_only_its_own_job(tmp_path: Path) -> None:
    final = tmp_path / "hls/show"
    final.mkdir(parents=True)
    (final / "theirs.ts").write_text("another user's")
    staged = Staged.tree(final, Lease("j", 2))
    with pytest.raises(OutputExists):
        staged.prepare(Lease("j", 2))
    assert (final / "theirs.ts").read_text() == "another user's"
    remove(final)
    # Attempt 1 of job j committed; attempt 2 of the same job may replace it.
    for attempt, body in ((1, "#EXTM3U\n"), (2, "#EXTM3U\n#2\n")):
        staged = Staged.tree(final, Lease("j", attempt))
        staged.prepare(Lease("j", attempt))
        (staged.partial / "master.m3u8").write_text(body)
        staged.commit(Lease("j", attempt))
    assert sorted(p.name for p in final.iterdir()) == [".ffrtmp-job", "master.m3u8"]
    assert (final / "master.m3u8").read_text() == "#EXTM3U\n#2\n"
    assert [p.name for p in (tmp_path / "hls").iterdir()] == ["show"]
    # A name taken between the start and the end of a run is not replaced either.
    other = Staged.tree(tmp_path / "hls/late", Lease("k", 1))
    other.prepare(Lease("k", 1))
    (tmp_path / "hls/late").mkdir()
    (tmp_path / "hls/late/theirs.ts").write_text("x")
    with pytest.raises(OutputExists):
        other.commit(Lease("k", 1))
    assert (tmp_path / "hls/late/theirs.ts").read_text() == "x"


def test_staged_file_never_replaces_an_existing_file(tmp_path: Path) -> None:
    final = tmp_path / "clip.mp4"
    staged = Staged.file(final, Lease("j", 1))
    staged.prepare(Lease("j", 1))
    staged.partial.write_text("mine")
    final.write_text("theirs")  # appeared while the job ran
    with pytest.raises(OutputExists):
        staged.commit(Lease("j", 1))
    assert final.read_text() == "theirs"
    with pytest.raises(OutputExists):
        Staged.file(final, Lease("k", 1)).prepare(Lease("k", 1))
    # A file job j wrote itself (attempt 1) is replaced by its attempt 2.
    mine = tmp_path / "mine.mp4"
    for attempt in (1, 2):
        staged = Staged.file(mine, Lease("j", attempt))
        staged.prepare(Lease("j", attempt))
        staged.partial.write_text(f"attempt {attempt}")
        staged.commit(Lease("j", attempt))
    assert mine.read_text() == "attempt 2"
    with pytest.raises(OutputExists):
        Staged.file(mine, Lease("k", 1)).prepare(Lease("k", 1))


async def test_a_job_refuses_an_output_it_did_not_write(tmp_path: Path) -> None:
    env = env_for(tmp_path)
    taken = tmp_path / "out/hls/show"
    taken.mkdir(parents=True)
    (taken / "keep.ts").write_text("another user's")
    report = await execute(replace(SPEC, output="hls/show/"), env)
    assert report.outcome is Outcome.FAILED and report.error_class == "permanent"
    assert "already exists" in report.error
    assert [p.name for p in taken.iterdir()] == ["keep.ts"]


def test_sweep_removes_partial_files_and_directories(tmp_path: Path) -> None:
    keep = tmp_path / "keep.mp4"
    keep.write_text("x")
    Staged.file(tmp_path / "a/b.mp4", Lease("j", 1)).prepare(Lease("j", 1))
    (tmp_path / "a/.b.j-1.partial.mp4").write_text("half")
    tree = Staged.tree(tmp_path / "hls/s", Lease("j", 1))
    tree.prepare(Lease("j", 1))
    (tree.partial / "seg_0.ts").write_text("half")
    (tree.partial / "sub").mkdir()
    old = partial_dir(tmp_path / "hls/t", Lease("j", 1), tag="old.partial")
    old.mkdir()
    assert sweep_partials(tmp_path) == 3
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "a",
        "hls",
        "keep.mp4",
    ]


async def test_percent_from_the_input_length(tmp_path: Path) -> None:
    clip = tmp_path / "in.mp4"
    subprocess.run(
        [
            *[FFMPEG, "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10"],
            *["-t", "2", "-c:v", "libx264", "-preset", "ultrafast", str(clip)],
        ],
        check=True,
    )
    spec = replace(SPEC, input="in.mp4", duration_s=0)
    argv = build_argv(
        FFMPEG, spec, input_url=str(clip), output_url=str(tmp_path / "o.mkv"), encoder="libx264"
    )
    seen: list[ProgressInfo] = []
    run = FfmpegRun(argv, duration_s=0, on_progress=seen.append, output_path=None)
    await run.start()
    assert (await run.wait()).outcome is Outcome.SUCCEEDED
    assert seen[-1].percent == pytest.approx(100.0, abs=1.0) and seen[-1].eta_s == 0.0


SOFTWARE = [
    ("h264", "libx264"),
    ("h264", "libopenh264"),
    ("h265", "libx265"),
    ("h265", "libkvazaar"),
    ("vp9", "libvpx-vp9"),
    ("av1", "libsvtav1"),
    ("av1", "libaom-av1"),
    ("av1", "librav1e"),
]


@pytest.mark.parametrize("live", [False, True], ids=["file", "live"])
@pytest.mark.parametrize(("family", "encoder"), SOFTWARE, ids=[e for _, e in SOFTWARE])
def test_translated_flags_are_accepted(
    tmp_path: Path, family: str, encoder: str, live: bool
) -> None:
    if encoder not in ENCODERS:
        pytest.skip(lacks(encoder))
    spec = replace(SPEC, codec=encoder, live=live, duration_s=0.5, preset="veryfast")
    out = tmp_path / ("o.webm" if family == "vp9" else "o.mkv")
    argv = build_argv(FFMPEG, spec, input_url="", output_url=str(out), encoder=encoder)
    done = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    assert probe_media(out).video_codec == {"h265": "hevc"}.get(family, family)
    assert decode_errors(out) == ""


async def test_a_protocol_the_build_lacks_refuses_transiently(tmp_path: Path) -> None:
    # What the probe of a build without libsrt finds; another worker's build may have it.
    features = FfmpegFeatures(protocols=frozenset({"file", "pipe", "rtmp", "http"}))
    spec = replace(SPEC, output="srt://127.0.0.1:9/live", live=True)
    report = await execute(spec, env_for(tmp_path, features=features))
    assert (report.outcome, report.error_class) == (Outcome.FAILED, "transient")
    assert report.error == "this worker's ffmpeg 4.4 has no srt protocol"


def test_sweep_leaves_partials_another_worker_may_be_writing(tmp_path: Path) -> None:
    """Workers sharing an output root: a partial written to lately may be a live
    run elsewhere; only quiet ones go."""
    live = tmp_path / "a/.b.j-1.partial.mp4"
    live.parent.mkdir()
    live.write_text("growing")
    stale = tmp_path / "a/.c.k-1.partial.mp4"
    stale.write_text("half")
    os.utime(stale, (time.time() - 120, time.time() - 120))
    assert sweep_partials(tmp_path, quiet_s=30) == 1
    assert live.exists() and not stale.exists()
