"""Encoder selection against the capability sets of real kinds of workers, and the
translation of presets and rate control per encoder."""

from __future__ import annotations

import pytest

from ffrtmp.core.encoders import (
    X26X_PRESETS,
    encoder_family,
    latency_args,
    preset_args,
    preset_rank,
    rate_args,
    select_encoder,
)
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.matching import offers
from ffrtmp.core.tunes import tune_args

# What the probe leaves after its test encodes, on the hosts we deploy to.
CPU = ("aac", "libopus", "libx264", "libx265", "libvpx-vp9", "libsvtav1", "libaom-av1")
NVIDIA = (*CPU, "h264_nvenc", "hevc_nvenc", "av1_nvenc")
INTEL_QSV = (*CPU, "h264_qsv", "hevc_qsv", "vp9_qsv", "av1_qsv")
AMD_VAAPI = (*CPU, "h264_vaapi", "hevc_vaapi", "vp9_vaapi", "av1_vaapi")
# A host where every kind passed (say an Intel iGPU beside an NVIDIA card).
EVERYTHING = (*INTEL_QSV, "h264_nvenc", "hevc_nvenc", "av1_nvenc", "h264_vaapi", "vp9_vaapi")
OLD_NVIDIA = ("aac", "libx264", "h264_nvenc", "hevc_nvenc")  # no AV1 in hardware or software
RASPBERRY = ("aac", "h264_v4l2m2m")  # a family we advertise but do not know how to tune
MINIMAL = ("aac", "libopenh264", "libkvazaar", "librav1e")


@pytest.mark.parametrize(
    ("caps", "codec", "expected"),
    [
        (CPU, "h264", "libx264"),
        (CPU, "h265", "libx265"),
        (CPU, "hevc", "libx265"),
        (CPU, "vp9", "libvpx-vp9"),
        (CPU, "av1", "libsvtav1"),
        (NVIDIA, "h264", "h264_nvenc"),
        (NVIDIA, "H265", "hevc_nvenc"),
        (NVIDIA, "av1", "av1_nvenc"),
        (NVIDIA, "vp9", "libvpx-vp9"),  # NVENC has no VP9 encoder
        (INTEL_QSV, "h264", "h264_qsv"),
        (INTEL_QSV, "vp9", "vp9_qsv"),
        (INTEL_QSV, "av1", "av1_qsv"),
        (AMD_VAAPI, "avc", "h264_vaapi"),
        (AMD_VAAPI, "hevc", "hevc_vaapi"),
        (AMD_VAAPI, "av1", "av1_vaapi"),
        (EVERYTHING, "h264", "h264_nvenc"),  # NVENC, then QSV, then VAAPI
        (EVERYTHING, "vp9", "vp9_qsv"),
        (OLD_NVIDIA, "h265", "hevc_nvenc"),
        (RASPBERRY, "h264", "h264_v4l2m2m"),  # the family's only encoder, untuned
        (MINIMAL, "h264", "libopenh264"),
        (MINIMAL, "h265", "libkvazaar"),
        (MINIMAL, "av1", "librav1e"),
        # A pinned encoder is taken as is, even where a better one exists.
        (NVIDIA, "libx264", "libx264"),
        (EVERYTHING, "h264_vaapi", "h264_vaapi"),
        (CPU, "libaom-av1", "libaom-av1"),
    ],
)
def test_select_encoder(caps: tuple[str, ...], codec: str, expected: str) -> None:
    assert select_encoder(codec, caps) == expected


@pytest.mark.parametrize(
    ("caps", "codec"),
    [
        (OLD_NVIDIA, "av1"),
        (OLD_NVIDIA, "vp9"),
        (CPU, "h264_nvenc"),  # pinned hardware that failed (or lacks) the test encode
        (RASPBERRY, "h265"),
        (CPU, "prores_ks"),
        ((), "h264"),
    ],
)
def test_select_encoder_names_the_field_when_nothing_fits(
    caps: tuple[str, ...], codec: str
) -> None:
    with pytest.raises(InvalidArgument) as caught:
        select_encoder(codec, caps)
    assert caught.value.field == "spec.codec" and codec in caught.value.message


@pytest.mark.parametrize("caps", [CPU, NVIDIA, INTEL_QSV, AMD_VAAPI, OLD_NVIDIA, RASPBERRY])
def test_a_worker_offering_a_family_can_always_pick_an_encoder(caps: tuple[str, ...]) -> None:
    # Matching and selection agree: a codec token offered is a codec the worker can run.
    for token in offers(caps, gpus=0, labels={}):
        if token.startswith("codec:"):
            family = token.removeprefix("codec:")
            assert encoder_family(select_encoder(family, caps)) == family


@pytest.mark.parametrize(
    ("preset", "rank"),
    [
        ("ultrafast", 0),
        ("veryfast", 2),
        ("medium", 5),
        ("placebo", 9),
        ("p1", 1),
        ("p4", 5),
        ("p7", 8),
        ("13", 0),
        ("0", 9),
        ("8", 3),
    ],
)
def test_preset_rank(preset: str, rank: int) -> None:
    assert preset_rank(preset) == rank


@pytest.mark.parametrize("bad", ["turbo", "p0", "p8", "14", "fastest", "-1"])
def test_unknown_presets_name_the_field(bad: str) -> None:
    with pytest.raises(InvalidArgument) as caught:
        preset_rank(bad)
    assert caught.value.field == "spec.preset"


@pytest.mark.parametrize(
    ("encoder", "preset", "live", "args"),
    [
        ("libx264", "veryfast", False, ["-preset", "veryfast"]),
        ("libx264", "p4", False, ["-preset", "medium"]),
        ("libx265", "8", False, ["-preset", "faster"]),
        ("libkvazaar", "slow", False, ["-preset", "slow"]),
        ("h264_nvenc", "ultrafast", False, ["-preset", "p1"]),
        ("hevc_nvenc", "medium", False, ["-preset", "p4"]),
        ("av1_nvenc", "veryslow", True, ["-preset", "p7"]),
        ("h264_nvenc", "p6", False, ["-preset", "p6"]),  # native values pass through
        ("h264_qsv", "ultrafast", False, ["-preset", "veryfast"]),
        ("hevc_qsv", "medium", False, ["-preset", "medium"]),
        ("av1_qsv", "placebo", False, ["-preset", "veryslow"]),
        ("h264_vaapi", "veryslow", False, []),  # VAAPI has no portable speed knob
        ("libsvtav1", "veryfast", False, ["-preset", "10"]),
        ("libsvtav1", "5", False, ["-preset", "5"]),
        ("libaom-av1", "medium", False, ["-cpu-used", "4"]),
        ("librav1e", "ultrafast", False, ["-speed", "10"]),
        ("libvpx-vp9", "veryfast", False, ["-deadline", "good", "-cpu-used", "4", "-row-mt", "1"]),
        ("libvpx-vp9", "medium", True, ["-deadline", "realtime", "-cpu-used", "6", "-row-mt", "1"]),
        ("libvpx-vp9", "", False, ["-deadline", "good", "-row-mt", "1"]),
        ("libopenh264", "fast", False, []),
        ("mpeg4", "fast", False, []),
        ("libx264", "", False, []),
        ("h264_nvenc", "", True, []),
    ],
)
def test_preset_args(encoder: str, preset: str, live: bool, args: list[str]) -> None:
    assert preset_args(encoder, preset, live) == args


@pytest.mark.parametrize("preset", X26X_PRESETS)
@pytest.mark.parametrize(
    "encoder", ["libx264", "h264_nvenc", "h264_qsv", "libsvtav1", "libaom-av1", "libvpx-vp9"]
)
def test_every_x264_preset_translates_for_every_encoder(encoder: str, preset: str) -> None:
    assert preset_args(encoder, preset, live=False)


B = ("2500k", 2_500_000)


@pytest.mark.parametrize(
    ("encoder", "live", "stream", "args"),
    [
        ("libx264", False, "", ["-b:v", "2500k"]),
        ("libx264", True, "", ["-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000000"]),
        (
            "libx265",
            True,
            ":v:1",
            ["-b:v:1", "2500k", "-maxrate:v:1", "2500k", "-bufsize:v:1", "5000000"],
        ),
        ("h264_nvenc", False, "", ["-rc", "vbr", "-b:v", "2500k"]),
        (
            "hevc_nvenc",
            True,
            "",
            ["-rc", "cbr", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000000"],
        ),
        ("h264_nvenc", False, ":v:0", ["-rc:v:0", "vbr", "-b:v:0", "2500k"]),
        ("h264_vaapi", False, "", ["-rc_mode", "VBR", "-b:v", "2500k"]),
        (
            "h264_vaapi",
            True,
            "",
            ["-rc_mode", "CBR", "-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000000"],
        ),
        # QSV switches to CBR by itself when maxrate equals the bitrate.
        ("h264_qsv", True, "", ["-b:v", "2500k", "-maxrate", "2500k", "-bufsize", "5000000"]),
        ("h264_qsv", False, "", ["-b:v", "2500k"]),
        (
            "libvpx-vp9",
            True,
            "",
            ["-b:v", "2500k", "-minrate", "2500k", "-maxrate", "2500k", "-bufsize", "5000000"],
        ),
        (
            "libsvtav1",
            True,
            "",
            ["-b:v", "2500k", "-bufsize", "5000000", "-svtav1-params", "rc=2:pred-struct=1"],
        ),
        ("libsvtav1", False, "", ["-b:v", "2500k"]),
    ],
)
def test_rate_args(encoder: str, live: bool, stream: str, args: list[str]) -> None:
    assert rate_args(encoder, B[0], B[1], live, stream) == args


@pytest.mark.parametrize(
    ("encoder", "live", "args"),
    [
        ("libx264", True, ["-tune", "zerolatency"]),
        ("libx265", True, ["-tune", "zerolatency"]),
        ("h264_nvenc", True, ["-tune", "ll"]),
        ("libaom-av1", True, ["-usage", "realtime"]),
        ("h264_qsv", True, []),
        ("libx264", False, []),
    ],
)
def test_latency_args(encoder: str, live: bool, args: list[str]) -> None:
    # A live job's tune without a tune of its own, plus libaom's realtime usage.
    assert tune_args(encoder, "", live) + latency_args(encoder, live) == args
