"""parse_header: the `ffmpeg -i` header of a finished output in, OutputInfo out.
The samples are real headers from the bundled ffmpeg (9.0)."""

from __future__ import annotations

import pytest

from ffrtmp.core.model import OutputInfo, StreamInfo
from ffrtmp.worker.output_probe import parse_header

MP4 = """\
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'out/a.mp4':
  Metadata:
    major_brand     : isom
    encoder         : Lavf63.1.102
  Duration: 00:00:02.00, start: 0.000000, bitrate: 365 kb/s
  Stream #0:0[0x1](und): Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), \
320x240 [SAR 1:1 DAR 4:3], 226 kb/s, 10 fps, 10 tbr, 10240 tbn (default)
    Metadata:
      handler_name    : VideoHandler
      encoder         : Lavc63.1.102 libx264
  Stream #0:1[0x2](und): Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, \
127 kb/s (default)
    Metadata:
      handler_name    : SoundHandler
At least one output file must be specified
"""

WEBM = """\
Input #0, matroska,webm, from 'out/a.webm':
  Metadata:
    ENCODER         : Lavf63.1.102
  Duration: 00:00:01.00, start: 0.000000, bitrate: 509 kb/s
  Stream #0:0: Video: vp9 (Profile 0), yuv420p(tv, progressive), 320x240, SAR 1:1 DAR 4:3, \
29.97 fps, 29.97 tbr, 1k tbn
    Metadata:
      DURATION        : 00:00:01.001000000
"""

HLS = """\
[in#0 @ 0x55d911449080] Opening 'd/master_0.m3u8' for reading
[in#0/hls @ 0x55d911449080] Opening 'd/master_1_00002.ts' for reading
Input #0, hls, from 'd/master.m3u8':
  Duration: 00:00:03.00, start: 1.400000, bitrate: 0 kb/s
  Program 0
    Metadata:
      variant_bitrate : 577536
  Stream #0:0[0x0]: Video: h264 (Constrained Baseline) ([27][0][0][0] / 0x001B), yuv420p, \
320x240 [SAR 1:1 DAR 4:3], 10 fps, 10 tbr, 90k tbn, start 1.421333
    Metadata:
      variant_bitrate : 577536
  Stream #0:1[0x0]: Audio: aac (LC) ([15][0][0][0] / 0x000F), 48000 Hz, mono, fltp, start 1.400
    Metadata:
      variant_bitrate : 577536
  Program 1
    Metadata:
      variant_bitrate : 290272
  Stream #0:2[0x1]: Video: h264 (Constrained Baseline) ([27][0][0][0] / 0x001B), yuv420p, \
160x120 [SAR 1:1 DAR 4:3], 10 fps, 10 tbr, 90k tbn, start 1.421333
    Metadata:
      variant_bitrate : 290272
  Stream #0:3[0x1]: Audio: aac (LC) ([15][0][0][0] / 0x000F), 48000 Hz, mono, fltp, start 1.400
    Metadata:
      variant_bitrate : 290272
"""


def test_mp4() -> None:
    assert parse_header(MP4, 91_250) == OutputInfo(
        format="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=2.0,
        size_bytes=91_250,
        bitrate_bps=365_000,
        streams=(
            StreamInfo(0, "video", "h264", 320, 240, 10.0, bitrate_bps=226_000),
            StreamInfo(
                1, "audio", "aac", sample_rate=48000, channels="stereo", bitrate_bps=127_000
            ),
        ),
    )


def test_webm_fractional_rate_and_no_stream_bitrate() -> None:
    info = parse_header(WEBM, 1)
    assert info is not None and info.format == "matroska,webm"
    [video] = info.streams
    assert (video.codec, video.width, video.height, video.fps) == ("vp9", 320, 240, 29.97)
    assert video.bitrate_bps == 0


def test_hls_master_lists_every_rendition() -> None:
    info = parse_header(HLS, 400_000)
    assert info is not None
    assert (info.format, info.duration_s) == ("hls", 3.0)
    # The header says 0 kb/s for a playlist: the size over the duration stands in.
    assert info.bitrate_bps == round(400_000 * 8 / 3.0)
    videos = [(s.width, s.height, s.bitrate_bps) for s in info.streams if s.kind == "video"]
    assert videos == [(320, 240, 577_536), (160, 120, 290_272)]
    assert [s.channels for s in info.streams if s.kind == "audio"] == ["mono", "mono"]
    assert [s.index for s in info.streams] == [0, 1, 2, 3]


@pytest.mark.parametrize(
    "text",
    [
        "",
        "out.mp4: No such file or directory\n",
        "[mov,mp4 @ 0x1] moov atom not found\nout.mp4: Invalid data found when processing input\n",
    ],
)
def test_unreadable_output_is_none(text: str) -> None:
    assert parse_header(text, 10) is None


def test_later_inputs_and_garbage_are_ignored() -> None:
    text = (
        "Input #0, flv, from 'x.flv':\n"
        "  Duration: N/A, start: 0.000000, bitrate: N/A\n"
        "  Stream #0:0: Data: none\n"
        "  Stream #0:1: Video: h264 (High), yuv420p, 9999999x1, 25 fps\n"
        "Input #1, lavfi, from 'sine':\n"
        "  Stream #1:0: Audio: pcm_s16le, 44100 Hz, mono, s16, 705 kb/s\n"
    )
    info = parse_header(text, 0)
    assert info is not None and info.duration_s == 0.0 and info.bitrate_bps == 0
    assert [s.kind for s in info.streams] == ["data", "video"]
    assert info.streams[1].width == 0  # not a plausible size
