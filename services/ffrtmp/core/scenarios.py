"""Named presets. A job names one and may override any of its fields.

Plain data: the master's catalog (master/catalog.py) adds scenarios from a file."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    width: int
    height: int
    fps: float
    codec: str  # a family (h264, h265, vp9, av1) or an exact encoder
    bitrate: str
    live: bool = False
    duration_s: float = 10.0  # of a synthetic source; a real input keeps its own length
    preset: str = "veryfast"
    description: str = ""
    gop_s: float = 2.0  # keyframe interval; 0 leaves it to the encoder
    maxrate: str = ""  # rate cap and its buffer; "" means none for file jobs
    bufsize: str = ""
    audio_codec: str = "aac"  # "aac", "opus" or "none"
    audio_bitrate: str = "128k"
    audio_sample_rate: int = 48000
    audio_channels: int = 2
    tune: str = ""  # the encoder's -tune, e.g. film; "": none


def _live(name: str, w: int, h: int, bitrate: str, kbps: int, description: str) -> Scenario:
    # A link sized for the bitrate: cap at it, with two seconds' worth of buffer.
    return Scenario(
        name,
        w,
        h,
        30,
        "h264",
        bitrate,
        live=True,
        duration_s=60,
        description=description,
        maxrate=bitrate,
        bufsize=f"{2 * kbps}k",
    )


BUILTIN: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("720p30-h264", 1280, 720, 30, "h264", "2500k", description="HD file"),
        Scenario("1080p30-h264", 1920, 1080, 30, "h264", "5000k", description="Full HD file"),
        Scenario("1080p60-h264", 1920, 1080, 60, "h264", "8000k", description="Full HD, 60 fps"),
        Scenario("4K30-h264", 3840, 2160, 30, "h264", "20000k", description="UHD file"),
        Scenario("1080p30-h265", 1920, 1080, 30, "h265", "3000k", description="Full HD HEVC file"),
        Scenario("4K60-h265", 3840, 2160, 60, "h265", "25000k", description="UHD HEVC, 60 fps"),
        _live("live-1080p", 1920, 1080, "6000k", 6000, "Full HD live push over RTMP"),
        _live("live-4k", 3840, 2160, "15000k", 15000, "UHD live push over RTMP"),
        Scenario(
            "test",
            320,
            240,
            10,
            "h264",
            "200k",
            duration_s=2,
            preset="ultrafast",
            description="Tiny and fast, for smoke tests",
            audio_bitrate="64k",
        ),
    )
}

DEFAULT_SCENARIO = "720p30-h264"
