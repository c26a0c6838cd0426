"""Runs of the real ffmpeg on this host, below the daemon: an FfmpegRun of a
small synthetic job, and an Execution's Environment under a temporary root."""

from __future__ import annotations

from pathlib import Path

from ffrtmp.core.argv import build_argv
from ffrtmp.core.model import JobSpec, ProgressInfo
from ffrtmp.worker.execution import Environment
from ffrtmp.worker.runner import FfmpegRun
from tests.helpers.media import ffmpeg_under_test

FFMPEG = ffmpeg_under_test()
# Two seconds of 320x240 for FfmpegRun tests; one second of 160x120 for Executions.
RUN_SPEC = JobSpec(
    scenario="test",
    queue="default",
    priority="medium",
    input="lavfi:testsrc2",
    output="out.mp4",
    codec="h264",
    bitrate="500k",
    width=320,
    height=240,
    fps=10,
    duration_s=2,
    live=False,
    preset="ultrafast",
)
EXEC_SPEC = JobSpec(
    scenario="test",
    queue="default",
    priority="medium",
    input="lavfi:testsrc2",
    output="out.mp4",
    codec="h264",
    bitrate="200k",
    width=160,
    height=120,
    fps=10,
    duration_s=1,
    live=False,
    preset="ultrafast",
)


def make_run(
    spec: JobSpec, output: Path, seen: list[ProgressInfo], input_url: str = ""
) -> FfmpegRun:
    argv = build_argv(FFMPEG, spec, input_url=input_url, output_url=str(output), encoder="libx264")
    return FfmpegRun(argv, duration_s=spec.duration_s, on_progress=seen.append, output_path=output)


def env_for(root: Path, **kw: object) -> Environment:
    (root / "in").mkdir(exist_ok=True)
    return Environment(
        FFMPEG,
        ("aac", "libx264", "libx265"),
        root / "in",
        root / "out",
        "rtmp://127.0.0.1:1/live",
        lambda: 0.0,
        **kw,  # type: ignore[arg-type]
    )
