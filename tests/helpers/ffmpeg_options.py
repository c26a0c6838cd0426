"""What a build of ffmpeg says it takes (`-h full`, `-h long`, `-h encoder=NAME`),
and what of an argv it would reject: for the tests that check our argv against
the build under test."""

from __future__ import annotations

import functools
import re
import subprocess

from ffrtmp.worker.features import parse_av_options, parse_main_options
from tests.helpers.media import ffmpeg_under_test

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
