"""Inspect media files that tests produce, with the same ffmpeg the worker uses."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ffrtmp.worker.ffmpeg import find_ffmpeg

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
        [ffmpeg or find_ffmpeg(), "-hide_banner", "-nostdin", "-i", str(path)],
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
        [ffmpeg or find_ffmpeg(), "-nostdin", "-v", "error", "-i", str(path), "-f", "null", "-"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        return result.stderr.strip() or f"ffmpeg exited {result.returncode}"
    return result.stderr.strip()
