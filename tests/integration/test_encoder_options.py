"""Every hardware argv we generate, checked against the build's own option lists.

No GPU is needed: `ffmpeg -h encoder=NAME` lists the options (and their named
values) an encoder takes in this build, `-h full` the options every encoder takes,
`-h long` ffmpeg's own. An option or value a release lacks fails here instead of
on a customer's GPU host. An encoder the build does not have at all is skipped,
and the skip names the build.
"""

from __future__ import annotations

import functools
import re
import subprocess
from dataclasses import replace

import pytest

from ffrtmp.core.argv import build_argv
from ffrtmp.core.model import JobSpec, Rendition
from ffrtmp.worker.features import parse_av_options, parse_main_options
from tests.helpers.media import encoders_under_test, ffmpeg_under_test, lacks

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
NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


def help_text(*args: str) -> str:
    return subprocess.run(
        [ffmpeg_under_test(), "-hide_banner", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


@functools.cache
def generic_options() -> frozenset[str]:
    """ffmpeg's own options and those every encoder takes (AVCodecContext)."""
    codec = parse_av_options(help_text("-h", "full")).get("AVCodecContext", {})
    return parse_main_options(help_text("-h", "long")) | frozenset(codec)


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


def video_options(argv: list[str]) -> list[tuple[str, str]]:
    """(option, value) pairs of the video encoding: from -c:v up to the audio (or
    -an), stream specifiers removed ("-b:v:1" -> "b"), plus the device set-up."""
    start = argv.index("-c:v")
    end = next(i for i in range(start, len(argv)) if argv[i] in ("-c:a", "-an"))
    pairs = [(argv[i], argv[i + 1]) for i in range(start, end, 2)]
    device = [(o, argv[i + 1]) for i, o in enumerate(argv) if o.endswith("_hw_device")]
    return [(o.lstrip("-").split(":")[0], v) for o, v in pairs + device]


def problems(
    argv: list[str], private: dict[str, frozenset[str]], generic: frozenset[str]
) -> list[str]:
    """What this build would reject in `argv`: unknown options, unknown named values."""
    found = []
    for option, value in video_options(argv):
        if option in private:
            named = private[option]
            if named and value not in named and not NUMBER.match(value):
                found.append(f"-{option} {value} (takes {', '.join(sorted(named))})")
        elif option not in generic:
            found.append(f"-{option} (no such option)")
    return found


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
