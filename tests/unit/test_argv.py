"""build_argv, select_encoder and bitrate_bps: spec in, ffmpeg flags out.

Encoder choice and per-encoder flags are table-tested in test_encoders.py.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from ffrtmp.core.argv import build_argv, lavfi_source, output_muxer, select_encoder
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.ffmpeg_build import FfmpegFeatures
from ffrtmp.core.model import JobSpec
from ffrtmp.core.sizes import bitrate_bps
from tests.helpers.argv import FILE_SPEC, HLS_SPEC, LIVE_SPEC, SYNTH_SPEC, argv_of, flag


def test_file_job_full_argv() -> None:
    assert argv_of(FILE_SPEC, "/out/a.mp4") == [
        *["ffmpeg", "-hide_banner", "-nostdin", "-y", "-nostats"],
        *["-progress", "pipe:1", "-loglevel", "info", "-stats_period", "0.5"],
        *["-i", "/in/a.mov"],
        *["-c:v", "libx264", "-preset", "veryfast", "-b:v", "2500k"],
        *["-vf", "scale=1280:720", "-r", "30", "-pix_fmt", "yuv420p"],
        *["-c:a", "aac", "-b:a", "128k", "-ar", "48000"],
        *["-f", "mp4", "-movflags", "+faststart", "/out/a.mp4"],
    ]


def test_synthetic_job_full_argv() -> None:
    assert argv_of(SYNTH_SPEC, "/out/a.mp4", threads=2) == [
        *["ffmpeg", "-hide_banner", "-nostdin", "-y", "-nostats"],
        *["-progress", "pipe:1", "-loglevel", "info", "-stats_period", "0.5"],
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
        *["-progress", "pipe:1", "-loglevel", "info", "-stats_period", "0.5"],
        *["-re", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25"],
        *["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
        *["-c:v", "libx264", "-preset", "veryfast", "-b:v", "10000k"],
        *["-maxrate", "10000k", "-bufsize", "20000000", "-g", "50", "-keyint_min", "50"],
        *["-tune", "zerolatency"],
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
    ("encoder", "name", "value"),
    [
        ("libvpx-vp9", "-cpu-used", "4"),  # vp9 has no presets: veryfast becomes a speed
        ("libsvtav1", "-preset", "10"),  # svt-av1 presets are numbers
        ("h264_nvenc", "-preset", "p2"),
        ("libaom-av1", "-cpu-used", "7"),
    ],
)
def test_preset_is_translated_per_encoder(encoder: str, name: str, value: str) -> None:
    assert flag(argv_of(FILE_SPEC, encoder=encoder), name) == value


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
        ("lavfi:mandelbrot", 320, 240, 10.0, "mandelbrot=size=320x240:rate=10"),
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
        ("h264", ["aac", "libx264", "h264_nvenc"], "h264_nvenc"),
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
def test_select_encoder(codec: str, available: list[str], expected: str) -> None:
    assert select_encoder(codec, available) == expected


@pytest.mark.parametrize(
    ("codec", "available"),
    [("h264", ["aac"]), ("av1", []), ("h264_nvenc", ["libx264"]), ("prores", ["libx264"])],
)
def test_select_encoder_missing(codec: str, available: list[str]) -> None:
    with pytest.raises(InvalidArgument) as caught:
        select_encoder(codec, iter(available))
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
        ("1G", 1_000_000_000),
    ],
)
def test_bitrate_bps(text: str, bps: int) -> None:
    assert bitrate_bps(text) == bps


@pytest.mark.parametrize(
    "text",
    ["", "k", "2500kb", "10 M", "-5k", "1e6", "0", "0k", "fast", " 64k ", "6000k\n", "\u0666k"],
)
def test_bitrate_bps_malformed(text: str) -> None:
    with pytest.raises(ValueError):
        bitrate_bps(text)


def test_hls_ladder_full_argv() -> None:
    assert argv_of(HLS_SPEC, "/out/.show.j-1.partial.hls") == [
        *["ffmpeg", "-hide_banner", "-nostdin", "-y", "-nostats"],
        *["-progress", "pipe:1", "-loglevel", "info", "-stats_period", "0.5"],
        # The synthetic source takes the largest rendition's size.
        *["-f", "lavfi", "-i", "testsrc2=size=640x360:rate=10"],
        *["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"],
        "-filter_complex",
        "[0:v]split=2[s0][s1];[s0]scale=640:360,format=yuv420p[v0];"
        "[s1]scale=320:180,format=yuv420p[v1]",
        *["-map", "[v0]", "-map", "[v1]", "-map", "1:a", "-map", "1:a"],
        *["-c:v", "libx264", "-preset", "veryfast", "-b:v:0", "800k", "-b:v:1", "300k"],
        *["-force_key_frames", "expr:gte(t,n_forced*2)", "-r", "10"],
        *["-c:a", "aac", "-b:a", "128k", "-ar", "48000"],
        *["-t", "2", "-shortest"],
        *["-f", "hls", "-hls_time", "2", "-hls_list_size", "0", "-hls_playlist_type", "vod"],
        *["-hls_segment_filename", "/out/.show.j-1.partial.hls/master_%v_%05d.ts"],
        *["-master_pl_name", "master.m3u8", "-var_stream_map", "v:0,a:0 v:1,a:1"],
        "/out/.show.j-1.partial.hls/master_%v.m3u8",
    ]


def test_hls_of_a_real_input_without_audio_maps_video_only() -> None:
    spec = replace(HLS_SPEC, input="in/silent.mp4", output="hls/show/index.m3u8")
    argv = build_argv(
        "ffmpeg", spec, input_url="/in/s.mp4", output_url="/o/d", encoder="libx264", has_audio=False
    )
    assert "-shortest" not in argv and "1:a" not in argv and "0:a:0" not in argv
    assert flag(argv, "-var_stream_map") == "v:0 v:1"
    assert flag(argv, "-master_pl_name") == "index.m3u8"
    assert argv[-1] == "/o/d/index_%v.m3u8"
    with_audio = build_argv(
        "ffmpeg", spec, input_url="/in/s.mp4", output_url="/o/d", encoder="libx264"
    )
    assert with_audio.count("0:a:0") == 2
    assert flag(with_audio, "-var_stream_map") == "v:0,a:0 v:1,a:1"


def test_hls_without_renditions_is_one_rung_at_the_job_size() -> None:
    spec = replace(FILE_SPEC, output="hls/one/")
    argv = argv_of(spec, "/o/d")
    assert flag(argv, "-filter_complex") == "[0:v]scale=1280:720,format=yuv420p[v0]"
    assert flag(argv, "-b:v:0") == "2500k"
    assert flag(argv, "-var_stream_map") == "v:0,a:0"


def test_live_hls_is_an_event_playlist_with_capped_rungs() -> None:
    argv = argv_of(replace(HLS_SPEC, live=True, fps=25), "/o/d")
    assert flag(argv, "-hls_playlist_type") == "event"
    assert flag(argv, "-maxrate:v:1") == "300k" and flag(argv, "-bufsize:v:1") == "600000"
    assert flag(argv, "-g") == "50"


def test_null_output_encodes_and_discards() -> None:
    argv = argv_of(replace(SYNTH_SPEC, output="null:"), "null:")
    assert argv[-3:] == ["-f", "null", "-"]
    assert flag(argv, "-c:v") == "libx264"


def test_job_threads_apply_unless_the_caller_overrides() -> None:
    assert flag(argv_of(replace(FILE_SPEC, threads=3)), "-threads") == "3"
    assert flag(argv_of(replace(FILE_SPEC, threads=3), threads=1), "-threads") == "1"


@pytest.mark.parametrize(
    ("encoder", "device", "vf"),
    [
        ("h264_vaapi", "vaapi=va", "scale=1280:720,format=nv12,hwupload"),
        ("hevc_qsv", "qsv=hw", "scale=1280:720,format=nv12,hwupload=extra_hw_frames=16"),
    ],
)
def test_device_encoders_get_a_device_and_an_upload(encoder: str, device: str, vf: str) -> None:
    argv = argv_of(FILE_SPEC, "/o/a.mp4", encoder)
    assert flag(argv, "-init_hw_device") == device
    assert argv.index("-init_hw_device") < argv.index("-i")
    assert flag(argv, "-vf") == vf
    assert "-pix_fmt" not in argv  # the frames are the device's own


def test_device_upload_is_the_whole_filter_for_synthetic_input() -> None:
    argv = argv_of(SYNTH_SPEC, "/o/a.mp4", "h264_vaapi")
    assert flag(argv, "-vf") == "format=nv12,hwupload"
    ladder = argv_of(HLS_SPEC, "/o/d", "h264_vaapi")
    assert "scale=320:180,format=nv12,hwupload[v1]" in (flag(ladder, "-filter_complex") or "")


def test_nvenc_needs_no_upload() -> None:
    argv = argv_of(LIVE_SPEC, encoder="h264_nvenc")
    assert "-init_hw_device" not in argv and "-vf" not in argv
    assert flag(argv, "-rc") == "cbr" and flag(argv, "-tune") == "ll"
    assert flag(argv, "-pix_fmt") == "yuv420p"


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://h/a.mp4", ["-rw_timeout", "15000000", "-reconnect", "1"]),
        ("https://h/a.mp4", ["-rw_timeout", "15000000", "-reconnect", "1"]),
        ("rtmp://h/live/cam", ["-rw_timeout", "15000000", "-i"]),
        ("srt://h:9000", ["-rw_timeout", "15000000", "-i"]),
    ],
)
def test_network_inputs_time_out(url: str, expected: list[str]) -> None:
    argv = build_argv(
        "ffmpeg", replace(FILE_SPEC, input=url), input_url=url, output_url="/o.mp4", encoder="x"
    )
    start = argv.index("-rw_timeout")
    assert argv[start : start + len(expected)] == expected
    assert flag(argv, "-i") == url


def test_live_pull_is_not_paced_again() -> None:
    # A live source already arrives in real time; -re would only add latency.
    url = "rtmp://cam/live/1"
    spec = replace(LIVE_SPEC, input=url)
    argv = build_argv("ffmpeg", spec, input_url=url, output_url="rtmp://o/l/k", encoder="libx264")
    assert "-re" not in argv


@pytest.mark.parametrize(
    ("stats_period", "expected"), [(True, ["-stats_period", "0.5"]), (False, [])]
)
def test_stats_period_only_where_the_build_has_it(stats_period: bool, expected: list[str]) -> None:
    features = FfmpegFeatures(stats_period=stats_period)
    argv = build_argv(
        "ffmpeg", SYNTH_SPEC, input_url="", output_url="o.mp4", encoder="libx264", features=features
    )
    at = argv.index("-loglevel") + 2
    assert argv[at : at + len(expected)] == expected
    assert ("-stats_period" in argv) is stats_period
