"""Which ffmpeg the tests run, and helpers that inspect the media they produce.

One setting chooses the build for the whole run, the helpers here and every worker
the tests start (through --ffmpeg): FFRTMP_TEST_FFMPEG=bundled (the default: the
imageio-ffmpeg static build), system (the `ffmpeg` on PATH, e.g. the distribution's)
or a path to any other binary.
"""

from __future__ import annotations

import functools
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ffrtmp.core.ffmpeg_build import parse_version
from ffrtmp.worker.probe import parse_encoders

SETTING = "FFRTMP_TEST_FFMPEG"


@functools.cache
def ffmpeg_under_test() -> str:
    """The binary FFRTMP_TEST_FFMPEG names; an error, not a skip, when it is absent:
    a run asked to test a build must not pass without it."""
    choice = os.environ.get(SETTING, "").strip() or "bundled"
    if choice == "bundled":
        import imageio_ffmpeg

        return str(imageio_ffmpeg.get_ffmpeg_exe())
    found = shutil.which("ffmpeg" if choice == "system" else choice)
    if found is None:
        raise RuntimeError(f"{SETTING}={choice}: no such ffmpeg (apt-get install ffmpeg?)")
    return found


@functools.cache
def build_name() -> str:
    """How skip reasons and the report header name the build, e.g. "system ffmpeg 5.1.6"."""
    choice = os.environ.get(SETTING, "").strip() or "bundled"
    kind = choice if choice in ("bundled", "system") else "custom"
    text = subprocess.run(
        [ffmpeg_under_test(), "-version"], capture_output=True, text=True, timeout=30, check=True
    ).stdout
    return f"{kind} ffmpeg {parse_version(text).short}"


@functools.cache
def encoders_under_test() -> frozenset[str]:
    text = subprocess.run(
        [ffmpeg_under_test(), "-hide_banner", "-encoders"],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return frozenset(parse_encoders(text))


def lacks(what: str) -> str:
    """A skip reason naming the build: "system ffmpeg 5.1.6 has no libkvazaar"."""
    return f"{build_name()} has no {what}"

# "  Duration: 00:00:02.00, start: ..." and "Stream #0:0[0x1](und): Video: h264 (...), ..., 320x240"
_DURATION = re.compile(r"Duration:\s*(\d+):(\d+):(\d+(?:\.\d+)?)")
_VIDEO = re.compile(r"Stream #\d+:\d+.*?: Video: (\w+).*?, (\d{2,5})x(\d{2,5})")


@dataclass(frozen=True)
class MediaInfo:
    width: int
    height: int
    duration_s: float
    video_codec: str


def probe_media(path: Path | str, ffmpeg: str | None = None) -> MediaInfo:
    """Width, height, duration and codec of the first video stream (`ffmpeg -i` header)."""
    # ffmpeg -i without an output exits 1 by design; the header on stderr is what we want.
    result = subprocess.run(
        [ffmpeg or ffmpeg_under_test(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    header = result.stderr
    video = _VIDEO.search(header)
    duration = _DURATION.search(header)
    if video is None or duration is None:
        raise AssertionError(f"no video stream or duration in {path}:\n{header}")
    hours, minutes, seconds = duration.groups()
    return MediaInfo(
        width=int(video.group(2)),
        height=int(video.group(3)),
        duration_s=int(hours) * 3600 + int(minutes) * 60 + float(seconds),
        video_codec=video.group(1),
    )


def decode_errors(path: Path | str, ffmpeg: str | None = None) -> str:
    """Decode every frame; "" when the file decodes cleanly, else ffmpeg's complaints."""
    result = subprocess.run(
        [
            *[ffmpeg or ffmpeg_under_test(), "-nostdin", "-v", "error"],
            *["-i", str(path), "-f", "null", "-"],
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        return result.stderr.strip() or f"ffmpeg exited {result.returncode}"
    return result.stderr.strip()


# "Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 44100 Hz, mono, fltp, 69 kb/s"
_AUDIO = re.compile(r"Stream #\d+:\d+.*?: Audio: (\w+).*?, (\d+) Hz, ([^,\s]+)")
_FRAME = re.compile(r"^frame=(\d+)$", re.MULTILINE)


@dataclass(frozen=True)
class AudioInfo:
    codec: str
    sample_rate: int
    channels: str  # ffmpeg's layout name: "mono", "stereo", ...


def probe_audio(path: Path | str, ffmpeg: str | None = None) -> AudioInfo | None:
    """Codec, sample rate and layout of the first audio stream; None without one."""
    result = subprocess.run(
        [ffmpeg or ffmpeg_under_test(), "-hide_banner", "-nostdin", "-i", str(path)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    m = _AUDIO.search(result.stderr)
    return AudioInfo(m.group(1), int(m.group(2)), m.group(3)) if m else None


def keyframe_count(path: Path | str, ffmpeg: str | None = None) -> int:
    """How many keyframes the first video stream has: decode only those and count."""
    result = subprocess.run(
        [
            *[ffmpeg or ffmpeg_under_test(), "-nostdin", "-v", "error", "-skip_frame", "nokey"],
            *["-i", str(path), "-map", "0:v:0", "-progress", "pipe:1", "-f", "null", "-"],
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    frames = _FRAME.findall(result.stdout)
    if result.returncode != 0 or not frames:
        raise AssertionError(f"cannot count keyframes of {path}: {result.stderr}")
    return int(frames[-1])
