"""Every hardware argv we generate, checked against the build's own option lists.

No GPU is needed: `ffmpeg -h encoder=NAME` lists the options (and their named
values) an encoder takes in this build, `-h full` the options every encoder takes,
`-h long` ffmpeg's own. An option or value a release lacks fails here instead of
on a customer's GPU host. An encoder the build does not have at all is skipped,
and the skip names the build.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ffrtmp.core.argv import build_argv
from ffrtmp.core.model import JobSpec, Rendition
from ffrtmp.worker.features import parse_av_options
from tests.helpers.ffmpeg_options import generic_options, help_text, problems
from tests.helpers.media import encoders_under_test, lacks

pytestmark = pytest.mark.media

HARDWARE = [
    *("h264_nvenc", "hevc_nvenc", "av1_nvenc"),
    *("h264_qsv", "hevc_qsv", "vp9_qsv", "av1_qsv"),
    *("h264_vaapi", "hevc_vaapi", "vp9_vaapi", "av1_vaapi"),
    *("h264_amf", "hevc_amf", "av1_amf"),
    *("h264_vulkan", "hevc_vulkan", "av1_vulkan"),
]
BASE = JobSpec(
    scenario="test",
    queue="default",
    priority="medium",
    input="in.mov",
    output="out.mp4",
    codec="h264",
    bitrate="4000k",
    maxrate="5000k",
    bufsize="8000k",
    width=1280,
    height=720,
    fps=30.0,
    gop_s=2.0,
    duration_s=0.0,
    live=False,
    preset="",
)
PRESETS = ("", "ultrafast", "veryfast", "medium", "slow", "veryslow", "p1", "p4", "p7", "8")
LADDER = (Rendition(1280, 720, "3000k"), Rendition(640, 360, "800k"))


def argvs(encoder: str) -> list[list[str]]:
    """The argv of every job shape for `encoder`: file and live, each preset,
    with and without a bitrate, one output and an HLS ladder."""
    out = []
    for live in (False, True):
        for preset in PRESETS:
            spec = replace(BASE, live=live, preset=preset)
            for s, output in (
                (spec, "out.mp4"),
                (replace(spec, bitrate="", maxrate="", bufsize=""), "out.mkv"),
                (replace(spec, renditions=LADDER, output="hls/"), "hls"),
            ):
                out.append(
                    build_argv("ffmpeg", s, input_url="in.mov", output_url=output, encoder=encoder)
                )
    return out


def test_the_check_catches_what_a_build_lacks() -> None:
    # The checker itself: an unknown option and an unknown value are reported.
    argv = ["ffmpeg", "-c:v", "x", "-preset", "warp", "-nosuchopt", "1", "-g", "60", "-an", "o"]
    private = {"preset": frozenset({"fast", "slow"})}
    assert problems(argv, private, generic_options()) == [
        "-preset warp (takes fast, slow)",
        "-nosuchopt (no such option)",
    ]


@pytest.mark.parametrize("encoder", HARDWARE)
def test_hardware_argv_uses_only_options_the_build_has(encoder: str) -> None:
    if encoder not in encoders_under_test():
        pytest.skip(lacks(encoder))
    # The section is named after the encoder's class ("h265_vaapi", "h264_qsv
    # encoder"), not always the encoder: take every section its help prints.
    sections = parse_av_options(help_text("-h", f"encoder={encoder}")).values()
    private = {option: named for s in sections for option, named in s.items()}
    generic = generic_options()
    found = {p for argv in argvs(encoder) for p in problems(argv, private, generic)}
    assert not found, f"{encoder}: {sorted(found)}"
