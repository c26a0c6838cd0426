"""GOP, rate caps and audio settings as ffmpeg flags."""

from __future__ import annotations

from dataclasses import replace

import pytest

from ffrtmp.core.argv import LAVFI_AUDIO, build_argv
from ffrtmp.core.model import JobSpec, Rendition
from ffrtmp.core.spec import RawSpec, resolve
from tests.helpers.argv import FILE_SPEC, HLS_SPEC, LIVE_SPEC, SYNTH_SPEC, argv_of, flag


def values(argv: list[str], names: list[str]) -> dict[str, str | None]:
    return {name: flag(argv, name) for name in names}


GOP = ["-g", "-keyint_min", "-force_key_frames"]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (replace(FILE_SPEC, gop_s=2), {"-g": "60", "-keyint_min": "60", "-force_key_frames": None}),
        (replace(FILE_SPEC, gop_s=0.5, fps=30), {"-g": "15", "-keyint_min": "15"}),
        (replace(FILE_SPEC, gop_s=0.01, fps=10), {"-g": "1", "-keyint_min": "1"}),
        (replace(FILE_SPEC, gop_s=0), {"-g": None, "-keyint_min": None}),
        # The input's rate is unknown: keyframes are forced by time.
        (
            replace(FILE_SPEC, gop_s=1.5, fps=0),
            {"-g": None, "-force_key_frames": "expr:gte(t,n_forced*1.5)"},
        ),
        # Live jobs stored before gop_s existed keep their two seconds.
        (replace(LIVE_SPEC, gop_s=0), {"-g": "50", "-keyint_min": "50"}),
        (replace(LIVE_SPEC, gop_s=4), {"-g": "100", "-keyint_min": "100"}),
        # An HLS ladder forces one keyframe per GOP: segments are whole GOPs.
        (
            replace(HLS_SPEC, gop_s=4),
            {"-g": "40", "-force_key_frames": "expr:gte(t,n_forced*4)"},
        ),
        (HLS_SPEC, {"-g": None, "-force_key_frames": "expr:gte(t,n_forced*2)"}),
        (
            replace(HLS_SPEC, gop_s=1, fps=0),
            {"-g": None, "-force_key_frames": "expr:gte(t,n_forced*1)"},
        ),
    ],
)
def test_gop(spec: JobSpec, expected: dict[str, str | None]) -> None:
    argv = argv_of(spec, "/o/d" if spec.output.endswith("/") else None)
    assert values(argv, list(expected)) == expected
    assert argv.count("-force_key_frames") <= 1


CAPS = ["-b:v", "-maxrate", "-bufsize"]


@pytest.mark.parametrize(
    ("spec", "encoder", "expected"),
    [
        # A live job's own cap replaces the encoder's default (the bitrate, twice it).
        (
            replace(LIVE_SPEC, maxrate="12M", bufsize="6M"),
            "libx264",
            {"-b:v": "10000k", "-maxrate": "12M", "-bufsize": "6M"},
        ),
        (
            replace(LIVE_SPEC, maxrate="", bufsize=""),
            "libx264",
            {"-b:v": "10000k", "-maxrate": "10000k", "-bufsize": "20000000"},
        ),
        # A file job is capped only when it asks.
        (FILE_SPEC, "libx264", {"-b:v": "2500k", "-maxrate": None, "-bufsize": None}),
        (
            replace(FILE_SPEC, maxrate="4M", bufsize="8M"),
            "libx264",
            {"-b:v": "2500k", "-maxrate": "4M", "-bufsize": "8M"},
        ),
        (
            replace(FILE_SPEC, maxrate="4M", bufsize="8M"),
            "h264_nvenc",
            {"-rc": "vbr", "-maxrate": "4M", "-bufsize": "8M"},
        ),
        # SVT-AV1 takes no maxrate outside CRF: only the buffer.
        (
            replace(FILE_SPEC, maxrate="4M", bufsize="8M"),
            "libsvtav1",
            {"-maxrate": None, "-bufsize": "8M"},
        ),
        (
            replace(LIVE_SPEC, maxrate="12M", bufsize="6M"),
            "libvpx-vp9",
            {"-minrate": "10000k", "-maxrate": "12M", "-bufsize": "6M"},
        ),
        (replace(FILE_SPEC, bitrate="", maxrate="4M"), "libx264", {"-b:v": None, "-maxrate": None}),
    ],
)
def test_rate_caps(spec: JobSpec, encoder: str, expected: dict[str, str | None]) -> None:
    assert values(argv_of(spec, encoder=encoder), list(expected)) == expected


def test_ladder_rungs_take_the_cap_in_proportion() -> None:
    ladder = (Rendition(640, 360, "800k"), Rendition(320, 180, "300k"))
    spec = replace(
        HLS_SPEC, live=True, bitrate="800k", maxrate="1000k", bufsize="1600k", renditions=ladder
    )
    argv = argv_of(spec, "/o/d")
    assert values(argv, ["-maxrate:v:0", "-bufsize:v:0", "-maxrate:v:1", "-bufsize:v:1"]) == {
        "-maxrate:v:0": "1000k",
        "-bufsize:v:0": "1600k",
        "-maxrate:v:1": "375000",
        "-bufsize:v:1": "600000",
    }


AUDIO = ["-c:a", "-b:a", "-ar", "-ac"]


@pytest.mark.parametrize(
    ("spec", "output", "expected"),
    [
        # Jobs stored before the audio fields existed: AAC 128k at 48 kHz, input layout.
        (FILE_SPEC, "/o/a.mp4", {"-c:a": "aac", "-b:a": "128k", "-ar": "48000", "-ac": None}),
        (
            replace(FILE_SPEC, audio_codec="aac", audio_bitrate="96k", audio_channels=2),
            "/o/a.mp4",
            {"-c:a": "aac", "-b:a": "96k", "-ar": "48000", "-ac": "2"},
        ),
        (
            replace(FILE_SPEC, audio_codec="opus", audio_sample_rate=24000, audio_channels=1),
            "/o/a.mkv",
            {"-c:a": "libopus", "-b:a": "128k", "-ar": "24000", "-ac": "1"},
        ),
        (
            replace(FILE_SPEC, audio_codec="aac", audio_sample_rate=44100),
            "/o/a.ts",
            {"-c:a": "aac", "-ar": "44100"},
        ),
        # WebM carries Opus whatever the spec says.
        (replace(FILE_SPEC, audio_codec="aac"), "/o/a.webm", {"-c:a": "libopus"}),
        (
            replace(HLS_SPEC, audio_codec="aac", audio_bitrate="64k", audio_channels=2),
            "/o/d",
            {"-c:a": "aac", "-b:a": "64k", "-ac": "2"},
        ),
    ],
)
def test_audio_settings(spec: JobSpec, output: str, expected: dict[str, str | None]) -> None:
    argv = argv_of(spec, output)
    assert values(argv, list(expected)) == expected
    assert "-an" not in argv


@pytest.mark.parametrize("spec", [FILE_SPEC, SYNTH_SPEC, LIVE_SPEC])
def test_no_audio(spec: JobSpec) -> None:
    argv = argv_of(replace(spec, audio_codec="none"))
    assert "-an" in argv
    assert [name for name in AUDIO if name in argv] == []
    # A synthetic job without audio reads no tone, so nothing is cut -shortest.
    assert LAVFI_AUDIO not in argv and "-shortest" not in argv


def test_hls_ladder_without_audio_maps_video_only() -> None:
    argv = argv_of(replace(HLS_SPEC, audio_codec="none"), "/o/d")
    assert "1:a" not in argv and "-c:a" not in argv and LAVFI_AUDIO not in argv
    assert flag(argv, "-var_stream_map") == "v:0 v:1"


def test_a_resolved_scenario_reaches_ffmpeg() -> None:
    spec = resolve(RawSpec(scenario="live-1080p", output="rtmp://h/live/k", duration_s=5))
    argv = build_argv("ffmpeg", spec, input_url="", output_url=spec.output, encoder="libx264")
    assert values(argv, [*GOP, *CAPS, *AUDIO]) == {
        "-g": "60",
        "-keyint_min": "60",
        "-force_key_frames": None,
        "-b:v": "6000k",
        "-maxrate": "6000k",
        "-bufsize": "12000k",
        "-c:a": "aac",
        "-b:a": "128k",
        "-ar": "48000",
        "-ac": "2",
    }
