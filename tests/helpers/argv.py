"""Job specs of each shape (file, synthetic, live, HLS ladder) and the argv
helpers that the argv tests share."""

from __future__ import annotations

from dataclasses import replace

from ffrtmp.core.argv import build_argv
from ffrtmp.core.model import JobSpec, Rendition

FILE_SPEC = JobSpec(
    scenario="test",
    queue="default",
    priority="medium",
    input="in/a.mov",
    output="out/a.mp4",
    codec="h264",
    bitrate="2500k",
    width=1280,
    height=720,
    fps=30.0,
    duration_s=0.0,
    live=False,
    preset="veryfast",
)
SYNTH_SPEC = replace(FILE_SPEC, input="lavfi:testsrc2", width=320, height=240, fps=10, duration_s=2)
LIVE_SPEC = replace(
    SYNTH_SPEC, output="rtmp://host/live/key", live=True, bitrate="10000k", fps=25, duration_s=30
)


def argv_of(
    spec: JobSpec, out: str | None = None, encoder: str = "libx264", **kw: int
) -> list[str]:
    return build_argv(
        "ffmpeg", spec, input_url="/in/a.mov", output_url=out or spec.output, encoder=encoder, **kw
    )


def flag(argv: list[str], name: str) -> str | None:
    """The value after the last occurrence of `name`, None when absent."""
    positions = [i for i, arg in enumerate(argv) if arg == name]
    return argv[positions[-1] + 1] if positions else None


HLS_SPEC = replace(
    SYNTH_SPEC,
    output="hls/show/",
    renditions=(Rendition(640, 360, "800k"), Rendition(320, 180, "300k")),
)
