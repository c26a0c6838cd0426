"""Spec validation and scenario resolution."""

from __future__ import annotations

import pytest

from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import Rendition
from ffrtmp.core.scenarios import BUILTIN
from ffrtmp.core.spec import RawSpec, check_request_id, resolve
from ffrtmp.master import catalog

SEED_SCENARIOS = {
    "720p30-h264",
    "1080p30-h264",
    "1080p60-h264",
    "4K30-h264",
    "1080p30-h265",
    "4K60-h265",
    "live-1080p",
    "live-4k",
    "test",
}


def test_builtin_catalog_has_the_seed_scenarios() -> None:
    assert set(BUILTIN) == SEED_SCENARIOS


def test_seed_live_4k_submit_resolves() -> None:
    spec = resolve(
        RawSpec(
            scenario="live-4k", queue="live", priority="high", duration_s=3600, bitrate="10000k"
        )
    )
    assert (spec.width, spec.height, spec.live) == (3840, 2160, True)
    assert spec.bitrate == "10000k" and spec.duration_s == 3600
    assert spec.input == "lavfi:testsrc2" and spec.output == ""


def test_explicit_fields_override_the_scenario() -> None:
    spec = resolve(
        RawSpec(
            scenario="1080p30-h264",
            width=640,
            height=360,
            fps=25,
            codec="h265",
            bitrate="1M",
            preset="medium",
            live=True,
        )
    )
    assert (spec.width, spec.height, spec.fps, spec.codec, spec.bitrate, spec.preset) == (
        640,
        360,
        25,
        "h265",
        "1M",
        "medium",
    )
    assert spec.live


def test_defaults() -> None:
    spec = resolve(RawSpec())
    assert (spec.scenario, spec.queue, spec.priority) == ("720p30-h264", "default", "medium")
    assert spec.duration_s == BUILTIN["720p30-h264"].duration_s


def test_file_input_keeps_its_own_length() -> None:
    assert resolve(RawSpec(input="clips/in.mp4")).duration_s == 0


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (RawSpec(scenario="nope"), "spec.scenario"),
        (RawSpec(queue="vip"), "spec.queue"),
        (RawSpec(priority="urgent"), "spec.priority"),
        (RawSpec(duration_s=-1), "spec.duration_s"),
        (RawSpec(duration_s=float("inf")), "spec.duration_s"),
        (RawSpec(duration_s=10**9), "spec.duration_s"),
        (RawSpec(bitrate="abc"), "spec.bitrate"),
        (RawSpec(bitrate="0"), "spec.bitrate"),
        (RawSpec(bitrate="5000M"), "spec.bitrate"),
        (RawSpec(width=321), "spec.width"),
        (RawSpec(height=8), "spec.height"),
        (RawSpec(fps=1000), "spec.fps"),
        (RawSpec(codec="rm -rf"), "spec.codec"),
        (RawSpec(preset="--x"), "spec.preset"),
        (RawSpec(max_retries=101), "spec.max_retries"),
        (RawSpec(input="file:/etc/passwd"), "spec.input"),
        (RawSpec(input="concat:a|b"), "spec.input"),
        (RawSpec(input="lavfi:movie=x.mp4"), "spec.input"),
        (RawSpec(input="lavfi:amovie=x.wav"), "spec.input"),
        (RawSpec(input="a/../../b.mp4"), "spec.input"),
        (RawSpec(input="in\x00.mp4"), "spec.input"),
        (RawSpec(input="x" * 3000), "spec.input"),
        (RawSpec(input="blob:sha256:" + "A" * 64), "spec.input"),
        (RawSpec(input="blob:sha256:" + "a" * 63), "spec.input"),
        (RawSpec(input="blob:md5:" + "a" * 32), "spec.input"),
        (RawSpec(input="BLOB:../x"), "spec.input"),
        (RawSpec(output="gopher://h/x"), "spec.output"),
        (RawSpec(output="../x.mp4"), "spec.output"),
        (RawSpec(output="x.txt"), "spec.output"),
    ],
)
def test_invalid_fields_are_named(raw: RawSpec, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve(raw)
    assert info.value.field == field
    assert str(info.value).startswith(field)


def test_unknown_scenario_lists_the_known_ones() -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve(RawSpec(scenario="8k"))
    assert all(name in str(info.value) for name in SEED_SCENARIOS)


@pytest.mark.parametrize("ok", ["", "abc", "req-1:2/3", "x" * 128])
def test_good_request_ids(ok: str) -> None:
    check_request_id(ok)


@pytest.mark.parametrize("bad", ["has space", "x" * 129, "tab\t", "é"])
def test_bad_request_ids(bad: str) -> None:
    with pytest.raises(InvalidArgument):
        check_request_id(bad)


@pytest.mark.parametrize(
    "good",
    [
        RawSpec(input="https://cdn.example/in.mp4"),
        RawSpec(input="rtmp://h/app/s"),
        RawSpec(input="srt://h:9000"),
        RawSpec(input="lavfi:testsrc2=size=640x360:rate=30"),
        RawSpec(input="lavfi:smptebars"),
        RawSpec(output="rtmp://h/live/x", live=True),
        RawSpec(output="dir/out.mkv"),
        RawSpec(output="recording.mp4", live=True),
    ],
)
def test_allowed_inputs_and_outputs(good: RawSpec) -> None:
    resolve(good)


def test_scenario_catalog_from_toml() -> None:

    cat = catalog.parse(
        "[scenarios.news]\nwidth = 640\nheight = 360\nlive = true\n"
        '[scenarios.720p30-h264]\nbitrate = "3M"\n'
    )
    assert cat["news"].width == 640 and cat["news"].live and cat["news"].codec == "h264"
    assert cat["720p30-h264"].bitrate == "3M" and cat["720p30-h264"].width == 1280
    assert resolve(RawSpec(scenario="news"), cat).width == 640
    assert "live-4k" in cat


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[scenarios.x]\nwidht = 3\n", "unknown key 'widht'"),
        ("[scenarios.x]\nwidth = '3'\n", "scenarios.x.width: wrong type"),
        ("[scenarios.x]\nlive = 1\n", "scenarios.x.live: wrong type"),
        ("[other]\n", "unknown top-level keys"),
        ("[scenarios.'a b']\n", "scenario name"),
        ("not toml at all [", "not valid TOML"),
    ],
)
def test_bad_scenario_files_say_what_is_wrong(text: str, problem: str) -> None:

    with pytest.raises(ValueError, match=problem):
        catalog.parse(text)


LADDER = (Rendition(1280, 720, "2500k"), Rendition(640, 360, "800k"))


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (RawSpec(output="null:x"), "spec.output"),
        (RawSpec(output="nul:"), "spec.output"),
        (RawSpec(output="master.m3u8"), "spec.output"),  # HLS needs a directory of its own
        (RawSpec(output="/"), "spec.output"),
        (RawSpec(output="hls/../../x/"), "spec.output"),
        (RawSpec(output="out.mp4", renditions=LADDER), "spec.renditions"),
        (RawSpec(output="rtmp://h/l/k", renditions=LADDER), "spec.renditions"),
        (RawSpec(output="hls/a/", renditions=LADDER * 5), "spec.renditions"),
        (RawSpec(output="hls/a/", renditions=(Rendition(0, 360, "1M"),)), "spec.renditions[0]"),
        (
            RawSpec(output="hls/a/", renditions=(*LADDER, Rendition(641, 360, "1M"))),
            "spec.renditions[2].width",
        ),
        (
            RawSpec(output="hls/a/", renditions=(Rendition(640, 8000, "1M"),)),
            "spec.renditions[0].height",
        ),
        (
            RawSpec(output="hls/a/", renditions=(Rendition(640, 360, "fast"),)),
            "spec.renditions[0].bitrate",
        ),
        (
            RawSpec(output="hls/a/", renditions=(Rendition(640, 360, ""),)),
            "spec.renditions[0].bitrate",
        ),
        (RawSpec(preset="turbo"), "spec.preset"),
        (RawSpec(preset="p9"), "spec.preset"),
        (RawSpec(threads=129), "spec.threads"),
        (RawSpec(threads=-1), "spec.threads"),
        (RawSpec(nice=20), "spec.nice"),
        (RawSpec(nice=-5), "spec.nice"),
    ],
)
def test_invalid_output_and_limit_fields_are_named(raw: RawSpec, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve(raw)
    assert info.value.field == field


@pytest.mark.parametrize(
    "good",
    [
        RawSpec(output="null:"),
        RawSpec(output="null:", live=True),
        RawSpec(output="hls/show/"),
        RawSpec(output="hls/show/index.m3u8", renditions=LADDER),
        RawSpec(output="a/b/c/", renditions=LADDER, live=True),
        RawSpec(preset="p4"),
        RawSpec(preset="8", codec="av1"),
        RawSpec(threads=4, nice=19),
        RawSpec(threads=0, nice=0),
    ],
)
def test_allowed_output_kinds_and_limits(good: RawSpec) -> None:
    spec = resolve(good)
    assert (spec.renditions, spec.threads, spec.nice) == (
        good.get("renditions", ()),
        good.get("threads", 0),
        good.get("nice"),
    )


def test_limits_default_to_the_worker() -> None:
    spec = resolve(RawSpec())
    assert (spec.threads, spec.nice, spec.renditions) == (0, None, ())


def test_a_blob_input_is_kept_as_named() -> None:
    ref = "blob:sha256:" + "0123456789abcdef" * 4
    assert resolve(RawSpec(input=ref)).input == ref
