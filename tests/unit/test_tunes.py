"""spec.tune: checked against the codec at submit, matched to a worker with an
encoder that has it, and passed to that encoder in its own flags."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from ffrtmp.core import matching
from ffrtmp.core.argv import build_argv
from ffrtmp.core.encoders import select_encoder
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import JobSpec
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.core.tunes import tune_args, with_tune

SPEC = resolve(RawSpec(scenario="test", output="out.mp4"))
LIVE = resolve(RawSpec(scenario="test", output="rtmp://h/live/k", live=True))


def argv(spec: JobSpec, encoder: str) -> list[str]:
    return build_argv("ffmpeg", spec, input_url="", output_url=spec.output, encoder=encoder)


def tune_flags(args: list[str]) -> list[str]:
    return [f"{a} {b}" for a, b in itertools.pairwise(args) if a.startswith("-tune")]


@pytest.mark.parametrize(
    ("encoder", "tune", "live", "expected"),
    [
        ("libx264", "film", False, ["-tune film"]),
        ("libx264", "film", True, ["-tune film,zerolatency"]),
        ("libx264", "fastdecode", True, ["-tune fastdecode,zerolatency"]),
        ("libx264", "zerolatency", True, ["-tune zerolatency"]),
        ("libx264", "", True, ["-tune zerolatency"]),
        ("libx264", "", False, []),
        ("libx265", "grain", False, ["-tune grain"]),
        ("libx265", "animation", True, ["-tune animation"]),  # x265 takes one
        ("h264_nvenc", "ull", True, ["-tune ull"]),
        ("hevc_nvenc", "", True, ["-tune ll"]),
        ("libaom-av1", "ssim", False, ["-tune ssim"]),
        ("libvpx-vp9", "screen", False, ["-tune-content screen"]),
        ("libvpx-vp9", "psnr", False, ["-tune psnr"]),
    ],
)
def test_tune_in_the_argv(encoder: str, tune: str, live: bool, expected: list[str]) -> None:
    spec = replace(LIVE if live else SPEC, tune=tune)
    assert tune_flags(argv(spec, encoder)) == expected
    assert tune_flags(tune_args(encoder, tune, live)) == expected


def test_tune_reaches_every_rung_of_an_hls_ladder() -> None:
    raw = RawSpec(scenario="test", output="hls/x/", tune="animation")
    assert tune_flags(argv(resolve(raw), "libx264")) == ["-tune animation"]


@pytest.mark.parametrize(
    ("codec", "tune"),
    [
        ("libx264", "film"),
        ("libx265", "zerolatency"),
        ("h264", "film"),  # libx264 has it
        ("h265", "ll"),  # hevc_nvenc has it
        ("vp9", "screen"),
        ("av1", "psnr"),
        ("hevc_nvenc", "lossless"),
    ],
)
def test_tunes_an_encoder_of_the_codec_has(codec: str, tune: str) -> None:
    assert resolve(RawSpec(codec=codec, tune=tune)).tune == tune


@pytest.mark.parametrize(
    ("codec", "tune", "words"),
    [
        ("libx265", "film", "libx265 has no tune 'film'"),
        ("libx264", "hq", "libx264 has no tune 'hq'"),
        ("libopenh264", "film", "encoder 'libopenh264' takes no tune"),
        ("libsvtav1", "psnr", "encoder 'libsvtav1' takes no tune"),
        ("av1", "film", "no av1 encoder has tune 'film'"),
        ("h264", "cinema", "no h264 encoder has tune 'cinema'"),
        ("h264", "Film!", "short lowercase word"),
    ],
)
def test_a_tune_the_codec_lacks_is_refused_naming_the_field(
    codec: str, tune: str, words: str
) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve(RawSpec(codec=codec, tune=tune))
    assert info.value.field == "spec.tune"
    assert words in str(info.value)


def test_a_scenario_tune_is_checked_like_a_jobs() -> None:
    from ffrtmp.master import catalog

    cat = catalog.parse('[scenarios.anime]\ncodec = "libx264"\ntune = "animation"\n')
    assert resolve(RawSpec(scenario="anime"), cat).tune == "animation"
    with pytest.raises(ValueError, match=r"scenarios\.bad\.tune: libx265 has no tune"):
        catalog.parse('[scenarios.bad]\ncodec = "libx265"\ntune = "film"\n')


def test_a_family_with_a_tune_needs_and_gets_an_encoder_that_has_it() -> None:
    spec = resolve(RawSpec(codec="h264", tune="film"))
    needs = matching.requirements(spec)
    nvenc_only = matching.offers(["h264_nvenc", "aac"], 1, {})
    both = matching.offers(["h264_nvenc", "libx264", "aac"], 1, {})
    assert not needs <= nvenc_only and needs <= both
    # The worker then picks libx264 over its preferred NVENC for this job.
    assert select_encoder("h264", with_tune("film", ["h264_nvenc", "libx264"])) == "libx264"
    assert select_encoder("h264", with_tune("", ["h264_nvenc", "libx264"])) == "h264_nvenc"
    # A tune NVENC has keeps NVENC first.
    assert select_encoder("h264", with_tune("ll", ["h264_nvenc", "libx264"])) == "h264_nvenc"


def test_a_pinned_encoder_needs_no_tune_token() -> None:
    spec = resolve(RawSpec(codec="libx264", tune="film"))
    assert matching.requirements(spec) == frozenset({"encoder:libx264"})
