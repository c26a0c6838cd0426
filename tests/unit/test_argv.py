"""build_argv, encoder_for and bitrate_bps: spec in, ffmpeg flags out."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ffrtmp.core.argv import bitrate_bps, build_argv, encoder_for, lavfi_source, output_muxer
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import JobSpec

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


def test_file_job_full_argv() -> None:
    assert argv_of(FILE_SPEC, "/out/a.mp4") == [
        *["ffmpeg", "-hide_banner", "-nostdin", "-y", "-nostats"],
        *["-progress", "pipe:1", "-loglevel", "info"],
        *["-i", "/in/a.mov"],
        *["-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k"],
        *["-vf", "scale=1280:720", "-r", "30", "-pix_fmt", "yuv420p"],
        *["-c:a", "aac", "-b:a", "128k", "-ar", "48000"],
        *["-f", "mp4", "-movflags", "+faststart", "/out/a.mp4"],
    ]


def test_synthetic_job_full_argv() -> None:
    assert argv_of(SYNTH_SPEC, "/out/a.mp4", threads=2) == [
        *["ffmpeg", "-hide_banner", "-nostdin", "-y", "-nostats"],
        *["-progress", "pipe:1", "-loglevel", "info"],
        *["-f", "lavfi", "-i", "testsrc2=size=320x240:rate=10"],
        *["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
        *["-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k"],
        *["-r", "10", "-pix_fmt", "yuv420p"],
        *["-c:a", "aac", "-b:a", "128k", "-ar", "48000"],
        *["-threads", "2", "-t", "2", "-shortest"],
        *["-f", "mp4", "-movflags", "+faststart", "/out/a.mp4"],
    ]


def test_live_job_full_argv() -> None:
    assert argv_of(LIVE_SPEC) == [
        *["ffmpeg", "-hide_banner", "-nostdin", "-y", "-nostats"],
        *["-progress", "pipe:1", "-loglevel", "info"],
        *["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"],
        *["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
        *["-c:v", "libx264", "-preset", "veryfast", "-b:v", "10000k"],
        *["-maxrate", "10000k", "-bufsize", "20000000", "-g", "50", "-tune", "zerolatency"],
        *["-r", "25", "-pix_fmt", "yuv420p"],
        *["-c:a", "aac", "-b:a", "128k", "-ar", "48000"],
        *["-t", "30", "-shortest", "-f", "flv", "rtmp://host/live/key"],
    ]


@pytest.mark.parametrize(
    ("spec", "absent"),
    [
        (FILE_SPEC, ["-re", "-maxrate", "-bufsize", "-g", "-tune", "-t", "-shortest", "-threads"]),
        (SYNTH_SPEC, ["-re", "-vf", "-maxrate", "-tune"]),
        (replace(FILE_SPEC, preset=""), ["-preset"]),
        (replace(FILE_SPEC, bitrate=""), ["-b:v"]),
        (replace(FILE_SPEC, width=0), ["-vf"]),
        (replace(FILE_SPEC, fps=0), ["-r"]),
        (replace(LIVE_SPEC, fps=0), ["-g", "-r"]),
        (replace(LIVE_SPEC, bitrate=""), ["-b:v", "-maxrate", "-bufsize"]),
    ],
)
def test_flags_left_out(spec: JobSpec, absent: list[str]) -> None:
    argv = argv_of(spec)
    assert [name for name in absent if name in argv] == []


@pytest.mark.parametrize(
    ("spec", "output", "encoder", "name", "value"),
    [
        (FILE_SPEC, "/o/a.mkv", "libx264", "-f", "matroska"),
        (FILE_SPEC, "/o/a.ts", "libx264", "-f", "mpegts"),
        (FILE_SPEC, "/o/a.webm", "libvpx-vp9", "-c:a", "libopus"),
        (FILE_SPEC, "/o/a.m3u8", "libx264", "-f", "hls"),
        (FILE_SPEC, "/o/a.mov", "libx264", "-movflags", "+faststart"),
        (LIVE_SPEC, "srt://h:9000?mode=caller", "libx264", "-f", "mpegts"),
        (LIVE_SPEC, "rtmps://h/live/k", "libx265", "-tune", "zerolatency"),
        (replace(FILE_SPEC, fps=29.97), "/o/a.mp4", "libx264", "-r", "29.97"),
        (replace(FILE_SPEC, duration_s=1.5), "/o/a.mp4", "libx264", "-t", "1.5"),
        (replace(FILE_SPEC, bitrate="10M"), "/o/a.mp4", "libx264", "-b:v", "10M"),
        (replace(LIVE_SPEC, fps=29.97), "rtmp://h/a", "libx264", "-g", "60"),
        (replace(FILE_SPEC, preset="8"), "/o/a.mp4", "libsvtav1", "-preset", "8"),
        (FILE_SPEC, "/o/a.mp4", "libx265", "-preset", "veryfast"),
    ],
)
def test_flag_values(spec: JobSpec, output: str, encoder: str, name: str, value: str) -> None:
    assert flag(argv_of(spec, output, encoder), name) == value


@pytest.mark.parametrize(
    ("spec", "encoder", "has_preset"),
    [
        (FILE_SPEC, "libvpx-vp9", False),  # vp9 has no named presets: the hint is dropped
        (FILE_SPEC, "libsvtav1", False),  # svt-av1 presets are numbers
        (FILE_SPEC, "h264_nvenc", False),
    ],
)
def test_preset_only_where_understood(spec: JobSpec, encoder: str, has_preset: bool) -> None:
    assert ("-preset" in argv_of(spec, encoder=encoder)) is has_preset


def test_bad_x264_preset_names_the_field() -> None:
    with pytest.raises(InvalidArgument) as caught:
        argv_of(replace(FILE_SPEC, preset="turbo"))
    assert caught.value.field == "spec.preset"


def test_bad_bitrate_is_rejected() -> None:
    with pytest.raises(ValueError):
        argv_of(replace(FILE_SPEC, bitrate="fast"))


def test_live_reads_real_input_at_native_rate() -> None:
    argv = argv_of(replace(LIVE_SPEC, input="/in/cam.ts"))
    assert argv[argv.index("-i") - 1] == "-re"
    assert flag(argv, "-i") == "/in/a.mov"  # the resolved URL, not the spec's path


@pytest.mark.parametrize(
    ("source", "width", "height", "fps", "expected"),
    [
        ("lavfi:testsrc2", 320, 240, 10.0, "testsrc2=size=320x240:rate=10"),
        ("lavfi:testsrc", 640, 360, 0.0, "testsrc=size=640x360"),
        ("lavfi:smptebars", 0, 0, 25.0, "smptebars=rate=25"),
        ("lavfi:color", 0, 0, 0.0, "color"),
        ("lavfi:color", 16, 16, 30000 / 1001, "color=size=16x16:rate=29.97003"),
        ("lavfi:testsrc2=size=64x64:rate=5", 320, 240, 10.0, "testsrc2=size=64x64:rate=5"),
        ("lavfi:mandelbrot", 320, 240, 10.0, "mandelbrot"),
    ],
)
def test_lavfi_source(source: str, width: int, height: int, fps: float, expected: str) -> None:
    spec = replace(SYNTH_SPEC, input=source, width=width, height=height, fps=fps)
    assert lavfi_source(spec) == expected


@pytest.mark.parametrize(
    ("url", "muxer"),
    [
        ("rtmp://h/a", "flv"),
        ("RTMP://h/a", "flv"),
        ("srt://h:1", "mpegts"),
        ("udp://h:1", "mpegts"),
        ("/o/x.MP4", "mp4"),
        ("/o/x.flv", "flv"),
        ("/o/x", None),
    ],
)
def test_output_muxer(url: str, muxer: str | None) -> None:
    assert output_muxer(url) == muxer


@pytest.mark.parametrize(
    ("codec", "available", "expected"),
    [
        ("h264", ["aac", "libx264", "h264_nvenc"], "libx264"),
        ("H264", ["libx264"], "libx264"),
        ("h265", ["libx265"], "libx265"),
        ("hevc", ["libx265"], "libx265"),
        ("vp9", ["libvpx-vp9"], "libvpx-vp9"),
        ("av1", ["libaom-av1", "libsvtav1"], "libsvtav1"),
        ("av1", ["libaom-av1"], "libaom-av1"),
        ("h264_nvenc", ["libx264", "h264_nvenc"], "h264_nvenc"),
        ("libx264", ["libx264"], "libx264"),
    ],
)
def test_encoder_for(codec: str, available: list[str], expected: str) -> None:
    assert encoder_for(codec, available) == expected


@pytest.mark.parametrize(
    ("codec", "available"),
    [("h264", ["aac"]), ("av1", []), ("h264_nvenc", ["libx264"]), ("prores", ["libx264"])],
)
def test_encoder_for_missing(codec: str, available: list[str]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        encoder_for(codec, iter(available))
    assert caught.value.field == "spec.codec"
    assert codec in caught.value.message


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("2500k", 2_500_000),
        ("2500K", 2_500_000),
        ("10M", 10_000_000),
        ("1.5M", 1_500_000),
        ("800000", 800_000),
        (" 64k ", 64_000),
        ("1G", 1_000_000_000),
    ],
)
def test_bitrate_bps(text: str, bps: int) -> None:
    assert bitrate_bps(text) == bps


@pytest.mark.parametrize("text", ["", "k", "2500kb", "10 M", "-5k", "1e6", "0", "0k", "fast"])
def test_bitrate_bps_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        bitrate_bps(text)
