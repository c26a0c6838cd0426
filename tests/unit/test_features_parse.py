"""Parsers of what an ffmpeg binary lists, on excerpts of 5.1 and 9.0 output."""

from __future__ import annotations

from ffrtmp.worker.features import (
    parse_av_options,
    parse_filters,
    parse_main_options,
    parse_progress_keys,
    parse_protocols,
)

FILTERS_5_1 = """\
Filters:
  T.. = Timeline support
  .S. = Slice threading
  ..C = Command support
  A = Audio input/output
  V = Video input/output
  N = Dynamic number and/or type of input/output
  | = Source or sink filter
 ... abench            A->A       Benchmark part of a filtergraph.
 TSC scale             V->V       Scale the input video size and/or convert the image format.
 ... split             V->N       Pass on the input to N video outputs.
 ... color             |->V       Provide an uniformly colored input.
"""
FILTERS_9_0 = """\
Filters:
  T.. = Timeline support
  .S. = Slice threading
  A = Audio input/output
  | = Source or sink filter
  ------
 TS aap               AA->A      Apply Affine Projection algorithm to first audio stream.
 .. format            V->V       Convert the input video to one of the specified pixel formats.
 .. hwupload          V->V       Upload a normal frame to a hardware frame
 .. scale2ref         VV->VV     Scale the input video size and/or convert the image format.
"""


def test_filters_of_both_layouts() -> None:
    assert parse_filters(FILTERS_5_1) == {"abench", "scale", "split", "color"}
    assert parse_filters(FILTERS_9_0) == {"aap", "format", "hwupload", "scale2ref"}


def test_protocols_input_and_output() -> None:
    text = "Supported file protocols:\nInput:\n  file\n  http\n  rtmp\nOutput:\n  file\n  srt\n"
    assert parse_protocols(text) == {"file", "http", "rtmp", "srt"}
    assert parse_protocols("Supported file protocols:\n") == frozenset()


def test_main_options_with_and_without_brackets() -> None:
    text = (
        "Universal media converter\nGetting help:\n    -h      -- print basic options\n"
        "-y                  overwrite output files\n"
        "-stats_period time  set the period at which ffmpeg updates stats\n"  # 5.1
        "-progress <url>     write program-readable progress information\n"  # 9.0
    )
    assert parse_main_options(text) == {"y", "stats_period", "progress"}


def test_progress_keys_of_a_block() -> None:
    block = "frame=1\nfps=0.00\nout_time_us=200000\nout_time=00:00:00.200000\n"
    block += "speed=N/A\nprogress=end\n"
    keys = {"frame", "fps", "out_time_us", "out_time", "speed", "progress"}
    assert parse_progress_keys(block) == keys


ENCODER_HELP = """\
Encoder h264_nvenc [NVIDIA NVENC H.264 encoder]:
    General capabilities: dr1 delay hardware
    Supported pixel formats: yuv420p nv12 cuda
h264_nvenc AVOptions:
  -preset            <int>        E..V....... Set the encoding preset (from 0 to 18) (default p4)
     default         0            E..V.......
     p1              12           E..V....... fastest (lowest quality)
     p7              18           E..V....... slowest (best quality)
  -tune              <int>        E..V....... Set the encoding tuning info (from 1 to 4) (defau
     hq              1            E..V....... High quality
     ll              2            E..V....... Low latency
  -rc                <int>        E..V....... Override the preset rate-control (from -1 to INT_MAX)
     cbr             2            E..V....... Constant bitrate mode
  -surfaces          <int>        E..V....... Number of concurrent surfaces (from 0 to 64) (def

AVCodecContext AVOptions:
  -b                 <int64>      E..VA...... set bitrate (in bits/s) (from 0 to INT_MAX) (defa
  -g                 <int>        E..V....... set the group of picture (GOP) size (from INT_MIN
"""


def test_av_options_with_named_values() -> None:
    sections = parse_av_options(ENCODER_HELP)
    assert set(sections) == {"h264_nvenc", "AVCodecContext"}
    nvenc = sections["h264_nvenc"]
    assert nvenc == {
        "preset": {"default", "p1", "p7"},
        "tune": {"hq", "ll"},
        "rc": {"cbr"},
        "surfaces": frozenset(),
    }
    assert sections["AVCodecContext"] == {"b": frozenset(), "g": frozenset()}
