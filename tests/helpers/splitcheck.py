"""What a joined output must show, measured with the ffmpeg under test alone (no
ffprobe needed): packets and their timestamps, keyframe times, frame count,
silences, VMAF against a reference, and a test clip with audio."""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import pairwise
from pathlib import Path

from tests.helpers.media import ffmpeg_under_test

_TB = re.compile(r"^#tb 0: (\d+)/(\d+)$", re.MULTILINE)
_PTS_TIME = re.compile(r"pts_time:\s*([0-9.]+)")
_FRAME = re.compile(r"^frame=(\d+)$", re.MULTILINE)
_SILENCE = re.compile(r"silence_start: ([0-9.]+)")
_VMAF = re.compile(r"VMAF score: ([0-9.]+)")


def _run(*args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ffmpeg_under_test(), "-hide_banner", "-nostdin", *args],
                          capture_output=True, text=True, timeout=timeout, check=False)


def make_clip(
    path: Path, seconds: float, *, size: str = "160x90", fps: int = 25,
    keyframes: list[float] | None = None, scenes: int = 1,
) -> Path:
    """A moving test pattern with a continuous tone; `keyframes`: only at these
    times (an irregular GOP); `scenes`: that many sources of equal length one
    after the other (hard scene changes), keyframes every 2 s regardless."""
    sources = ["testsrc2", "smptebars", "rgbtestsrc", "yuvtestsrc"]
    part = seconds / scenes
    video = [a for i in range(scenes) for a in
             ("-f", "lavfi", "-t", f"{part:g}", "-i",
              f"{sources[i % len(sources)]}=size={size}:rate={fps}")]
    graph = ["-filter_complex", f"{''.join(f'[{i}:v]' for i in range(scenes))}"
             f"concat=n={scenes}:v=1[v]", "-map", "[v]", "-map", f"{scenes}:a"]
    gop = ["-g", str(2 * fps)]
    if keyframes is not None:
        gop = ["-g", "100000", "-force_key_frames", ",".join(f"{t:g}" for t in keyframes)]
    r = _run("-y", *video, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
             *graph, "-t", f"{seconds:g}", "-c:v", "libx264", "-preset", "veryfast", *gop,
             "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", "96k",
             str(path))
    assert r.returncode == 0, r.stderr[-2000:]
    return path


@dataclass(frozen=True)
class Packets:
    pts: list[Fraction]  # seconds, in decode order
    durations: list[Fraction]
    sizes: list[int] = field(default_factory=list)  # bytes

    def bitrate(self) -> float:
        """Bits per second over the stream's length."""
        end = max(p + d for p, d in zip(self.pts, self.durations, strict=True))
        return 8 * sum(self.sizes) / float(end - min(self.pts))

    def gaps(self, fps: int) -> list[tuple[float, float]]:
        """(pts, step) wherever presentation order does not move one frame at `fps`
        (a muxer may stretch a packet's duration over a gap: not trusted here)."""
        step = Fraction(1, fps)
        return [(float(a), float(b - a)) for a, b in pairwise(sorted(self.pts)) if b - a != step]


def video_packets(path: Path) -> Packets:
    """The first video stream's packets by stream copy into framecrc: dts, pts and
    duration in the stream's own time base."""
    r = _run("-i", str(path), "-map", "0:v:0", "-c", "copy", "-f", "framecrc", "-")
    assert r.returncode == 0, r.stderr[-2000:]
    tb = _TB.search(r.stdout)
    assert tb is not None, r.stdout[:500]
    unit = Fraction(int(tb.group(1)), int(tb.group(2)))
    pts, durations, sizes = [], [], []
    for line in r.stdout.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        fields = [f.strip() for f in line.split(",")]
        pts.append(int(fields[2]) * unit)
        durations.append(int(fields[3]) * unit)
        sizes.append(int(fields[4]))
    return Packets(pts, durations, sizes)


def keyframe_times(path: Path) -> list[float]:
    r = _run("-skip_frame", "nokey", "-i", str(path), "-map", "0:v:0", "-vf", "showinfo",
             "-f", "null", "-")
    assert r.returncode == 0, r.stderr[-2000:]
    return [float(t) for t in _PTS_TIME.findall(r.stderr)]


def frame_count(path: Path) -> int:
    r = _run("-i", str(path), "-map", "0:v:0", "-progress", "pipe:1", "-f", "null", "-")
    frames = _FRAME.findall(r.stdout)
    assert r.returncode == 0 and frames, r.stderr[-2000:]
    return int(frames[-1])


def silences(path: Path, *, noise_db: int = -50, min_s: float = 0.02) -> list[float]:
    """Where the audio falls silent for at least `min_s` seconds."""
    r = _run("-i", str(path), "-map", "0:a:0", "-af",
             f"silencedetect=n={noise_db}dB:d={min_s:g}", "-f", "null", "-")
    assert r.returncode == 0, r.stderr[-2000:]
    return [float(t) for t in _SILENCE.findall(r.stderr)]


def vmaf(distorted: Path, reference: Path, threads: int = 2) -> float:
    r = _run("-i", str(distorted), "-i", str(reference), "-lavfi",
             f"[0:v][1:v]libvmaf=n_threads={threads}", "-f", "null", "-", timeout=900)
    m = _VMAF.search(r.stderr)
    assert r.returncode == 0 and m is not None, r.stderr[-2000:]
    return float(m.group(1))
