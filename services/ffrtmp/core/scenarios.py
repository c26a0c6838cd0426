"""Named presets. A job names one and may override any of its fields."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    width: int
    height: int
    fps: float
    codec: str
    bitrate: str
    live: bool
    duration_s: float
    preset: str
    description: str


def _s(
    name: str,
    w: int,
    h: int,
    fps: float,
    codec: str,
    bitrate: str,
    live: bool,
    duration_s: float,
    preset: str,
    description: str,
) -> Scenario:
    return Scenario(name, w, h, fps, codec, bitrate, live, duration_s, preset, description)


BUILTIN: dict[str, Scenario] = {
    s.name: s
    for s in (
        _s("720p30-h264", 1280, 720, 30, "h264", "2500k", False, 10, "veryfast", "HD file"),
        _s("1080p30-h264", 1920, 1080, 30, "h264", "5000k", False, 10, "veryfast", "Full HD file"),
        _s(
            "1080p60-h264",
            1920,
            1080,
            60,
            "h264",
            "8000k",
            False,
            10,
            "veryfast",
            "Full HD, 60 fps",
        ),
        _s("4K30-h264", 3840, 2160, 30, "h264", "20000k", False, 10, "veryfast", "UHD file"),
        _s(
            "1080p30-h265",
            1920,
            1080,
            30,
            "h265",
            "3000k",
            False,
            10,
            "veryfast",
            "Full HD HEVC file",
        ),
        _s(
            "4K60-h265", 3840, 2160, 60, "h265", "25000k", False, 10, "veryfast", "UHD HEVC, 60 fps"
        ),
        _s(
            "live-1080p",
            1920,
            1080,
            30,
            "h264",
            "6000k",
            True,
            60,
            "veryfast",
            "Full HD live push over RTMP",
        ),
        _s(
            "live-4k",
            3840,
            2160,
            30,
            "h264",
            "15000k",
            True,
            60,
            "veryfast",
            "UHD live push over RTMP",
        ),
        _s(
            "test",
            320,
            240,
            10,
            "h264",
            "200k",
            False,
            2,
            "ultrafast",
            "Tiny and fast, for smoke tests",
        ),
    )
}

DEFAULT_SCENARIO = "720p30-h264"
