"""The pure parsers behind probe_capabilities, on captured ffmpeg output."""

from __future__ import annotations

import pytest

from ffrtmp.worker.probe import device_pattern, parse_encoders, parse_hwaccels, parse_meminfo

ENCODERS = """\
Encoders:
 V..... = Video
 A..... = Audio
 S..... = Subtitle
 .F.... = Frame-level multithreading
 ..S... = Slice-level multithreading
 ...X.. = Codec is experimental
 ....B. = Supports draw_horiz_band
 .....D = Supports direct rendering method 1
 ------
 V....D a64multi             Multicolor charset for Commodore 64 (codec a64_multi)
 V....D libaom-av1           libaom AV1 (codec av1)
 V..... libsvtav1            SVT-AV1(Scalable Video Technology for AV1) encoder (codec av1)
 V..X.D avui                 Avid Meridien Uncompressed
 VF...D bitpacked            Bitpacked
 V....D libx264              libx264 H.264 / AVC / MPEG-4 AVC / MPEG-4 part 10 (codec h264)
 V....D h264_nvenc           NVIDIA NVENC H.264 encoder (codec h264)
 A....D aac                  AAC (Advanced Audio Coding)
 A....D libopus              libopus Opus (codec opus)
 S..... ass                  ASS (Advanced SubStation Alpha) subtitle (codec ass)
 S..... mov_text             3GPP Timed Text subtitle
"""

HWACCELS = """\
Hardware acceleration methods:
cuda
vaapi
qsv

"""


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            ENCODERS,
            (
                "a64multi",
                "libaom-av1",
                "libsvtav1",
                "avui",
                "bitpacked",
                "libx264",
                "h264_nvenc",
                "aac",
                "libopus",
            ),
        ),
        # Without the legend and rule (older builds, trimmed output).
        (" V....D libx264   H.264\n A....D aac   AAC\n", ("libx264", "aac")),
        ("", ()),
        ("Encoders:\n V..... = Video\n ------\n", ()),
        ("garbage\n\n V....D\n", ()),
    ],
)
def test_parse_encoders(text: str, expected: tuple[str, ...]) -> None:
    assert parse_encoders(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HWACCELS, ("cuda", "vaapi", "qsv")),
        ("Hardware acceleration methods:\n\n", ()),
        ("", ()),
        ("cuda\nvaapi\n", ()),  # no header: not hwaccel output
    ],
)
def test_parse_hwaccels(text: str, expected: tuple[str, ...]) -> None:
    assert parse_hwaccels(text) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MemTotal:       24684096 kB\nMemFree:  1 kB\n", 24684096 * 1024),
        ("MemFree:  1 kB\nMemTotal: 2048 kB\n", 2048 * 1024),
        ("MemFree:  1 kB\n", None),
        ("", None),
    ],
)
def test_parse_meminfo(text: str, expected: int | None) -> None:
    assert parse_meminfo(text) == expected


@pytest.mark.parametrize(
    ("encoder", "pattern"),
    [
        ("h264_nvenc", "/dev/nvidia[0-9]*"),
        ("hevc_vaapi", "/dev/dri/renderD*"),
        ("av1_qsv", "/dev/dri/renderD*"),
        ("h264_amf", "/dev/dri/renderD*"),
        ("h264_v4l2m2m", "/dev/video*"),
        ("h264_vulkan", None),  # may run on a software Vulkan device: always test-encoded
        ("libx264", None),
    ],
)
def test_device_a_hardware_encoder_needs(encoder: str, pattern: str | None) -> None:
    assert device_pattern(encoder) == pattern
