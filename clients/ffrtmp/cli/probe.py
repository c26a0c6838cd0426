"""What a split needs to know of its input before it is planned: its length,
and where it may cut (its keyframes, or its scene changes). The CLI finds them
with ffprobe/ffmpeg when the input is a file it can read at the same path (the
farm's shared input root, or the file about to be uploaded)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

MAX_CUTS = 20_000  # the master's bound on a job's cut candidates
_SCENE = re.compile(r"lavfi\.scd\.time:\s*([0-9.]+)")


def _run(tool: str, args: list[str], path: str, timeout: float) -> subprocess.CompletedProcess[str]:
    found = shutil.which(tool)
    if found is None or not Path(path).is_file():
        raise OSError(f"{tool} or {path} not here")
    return subprocess.run([found, *args], capture_output=True, text=True, timeout=timeout,
                          check=False)


def input_length(path: str) -> float | None:
    """Seconds, or None when the file is not here or ffprobe cannot tell."""
    try:
        out = _run("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of",
                               "csv=p=0", path], path, 60).stdout.strip()
        seconds = float(out)
    except (OSError, subprocess.TimeoutExpired, ValueError):
        return None
    return seconds if seconds > 0 else None


def keyframes(path: str) -> list[float]:
    """The first video stream's keyframe times, from its packets' flags (no
    decoding); [] when they cannot be read."""
    args = ["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=pts_time,flags",
            "-of", "csv=p=0", path]
    try:
        out = _run("ffprobe", args, path, 600).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    times = []
    for line in out.splitlines():
        pts, _, flags = line.partition(",")
        if "K" in flags and pts not in ("", "N/A"):
            times.append(float(pts))
    return _bounded(sorted(times))


def scene_changes(path: str, threshold: float) -> list[float]:
    """Where ffmpeg's scdet filter sees a scene change (one decode of the video);
    [] when it cannot run."""
    args = ["-hide_banner", "-nostdin", "-i", path, "-map", "0:v:0", "-vf",
            f"scdet=threshold={threshold:g}", "-f", "null", "-"]
    try:
        r = _run("ffmpeg", args, path, 3600)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return _bounded(sorted(float(t) for t in _SCENE.findall(r.stderr)))


def _bounded(times: list[float]) -> list[float]:
    """At most MAX_CUTS, spread evenly over the input."""
    step = -(-len(times) // MAX_CUTS)
    return times[::step] if step > 1 else times
