"""The scenario fields beyond size and bitrate: GOP, rate caps and audio, in the
built-in catalog, in a TOML catalog and in a job that overrides them."""

from __future__ import annotations

import pytest

from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.scenarios import BUILTIN
from ffrtmp.core.sizes import bitrate_bps
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.master import catalog


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_scenarios_have_gop_and_audio(name: str) -> None:
    sc = BUILTIN[name]
    assert sc.gop_s == 2.0
    assert (sc.audio_codec, sc.audio_sample_rate, sc.audio_channels) == ("aac", 48000, 2)
    assert sc.audio_bitrate == ("64k" if name == "test" else "128k")
    if sc.live:
        assert bitrate_bps(sc.maxrate) == bitrate_bps(sc.bitrate)
        assert bitrate_bps(sc.bufsize) == 2 * bitrate_bps(sc.bitrate)
    else:
        assert (sc.maxrate, sc.bufsize) == ("", "")
    resolve(RawSpec(scenario=name))  # every built-in passes its own checks


def media(raw: RawSpec) -> tuple[object, ...]:
    s = resolve(raw)
    return (
        s.gop_s,
        s.maxrate,
        s.bufsize,
        s.audio_codec,
        s.audio_bitrate,
        s.audio_sample_rate,
        s.audio_channels,
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (RawSpec(), (2.0, "", "", "aac", "128k", 48000, 2)),
        (RawSpec(scenario="live-1080p"), (2.0, "6000k", "12000k", "aac", "128k", 48000, 2)),
        # A job's own bitrate keeps the scenario's cap in proportion.
        (
            RawSpec(scenario="live-4k", bitrate="10000k"),
            (2.0, "10000k", "20000k", "aac", "128k", 48000, 2),
        ),
        (
            RawSpec(scenario="live-4k", maxrate="18M"),
            (2.0, "18M", "36000k", "aac", "128k", 48000, 2),
        ),
        (
            RawSpec(scenario="live-4k", maxrate="18M", bufsize="9M"),
            (2.0, "18M", "9M", "aac", "128k", 48000, 2),
        ),
        (RawSpec(maxrate="4000k"), (2.0, "4000k", "8000k", "aac", "128k", 48000, 2)),
        (RawSpec(bufsize="5000k"), (2.0, "", "5000k", "aac", "128k", 48000, 2)),
        (RawSpec(gop_s=0.5), (0.5, "", "", "aac", "128k", 48000, 2)),
        (RawSpec(gop_s=60), (60, "", "", "aac", "128k", 48000, 2)),
        (
            RawSpec(audio_codec="opus", audio_bitrate="96k", output="a.mkv"),
            (2.0, "", "", "opus", "96k", 48000, 2),
        ),
        (
            RawSpec(audio_sample_rate=44100, audio_channels=1),
            (2.0, "", "", "aac", "128k", 44100, 1),
        ),
        (RawSpec(audio_channels=6), (2.0, "", "", "aac", "128k", 48000, 6)),
        # No audio: nothing is left over from the scenario to mislead a reader.
        (RawSpec(audio_codec="none", audio_bitrate="96k"), (2.0, "", "", "none", "", 0, 0)),
        (
            RawSpec(scenario="live-1080p", audio_codec="none"),
            (2.0, "6000k", "12000k", "none", "", 0, 0),
        ),
    ],
)
def test_media_fields_resolve(raw: RawSpec, expected: tuple[object, ...]) -> None:
    assert media(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        RawSpec(audio_codec="opus", output="a.mp4"),
        RawSpec(audio_codec="opus", output="a.ts"),
        RawSpec(audio_codec="opus", output="hls/show/"),
        RawSpec(audio_codec="opus", output="srt://h:9000", live=True),
        RawSpec(audio_codec="opus", audio_sample_rate=24000, output="a.mkv"),
        RawSpec(audio_codec="none", scenario="live-4k"),
        RawSpec(audio_codec="none", output="a.mov"),
        RawSpec(audio_sample_rate=96000, audio_bitrate="320k", audio_channels=8),
    ],
)
def test_allowed_audio(raw: RawSpec) -> None:
    assert resolve(raw).audio_codec == (raw.get("audio_codec") or "aac")


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        (RawSpec(gop_s=-1), "spec.gop_s"),
        (RawSpec(gop_s=61), "spec.gop_s"),
        (RawSpec(gop_s=float("nan")), "spec.gop_s"),
        (RawSpec(gop_s=float("inf")), "spec.gop_s"),
        (RawSpec(maxrate="fast"), "spec.maxrate"),
        (RawSpec(maxrate="1000k"), "spec.maxrate"),  # below the scenario's 2500k
        (RawSpec(scenario="live-4k", maxrate="10M"), "spec.maxrate"),
        (RawSpec(bufsize="0"), "spec.bufsize"),
        (RawSpec(bufsize="2G"), "spec.bufsize"),
        (RawSpec(audio_codec="mp3"), "spec.audio_codec"),
        (RawSpec(audio_codec="AAC"), "spec.audio_codec"),
        (RawSpec(audio_codec="opus", scenario="live-1080p"), "spec.audio_codec"),
        (RawSpec(audio_codec="opus", output="rtmp://h/live/k"), "spec.audio_codec"),
        (RawSpec(audio_codec="opus", output="a.flv"), "spec.audio_codec"),
        (RawSpec(audio_codec="opus", output="a.mov"), "spec.audio_codec"),
        (RawSpec(audio_bitrate="1k"), "spec.audio_bitrate"),
        (RawSpec(audio_bitrate="2M"), "spec.audio_bitrate"),
        (RawSpec(audio_bitrate="loud"), "spec.audio_bitrate"),
        (RawSpec(audio_sample_rate=12345), "spec.audio_sample_rate"),
        (
            RawSpec(audio_codec="opus", output="a.mkv", audio_sample_rate=44100),
            "spec.audio_sample_rate",
        ),
        (RawSpec(audio_channels=9), "spec.audio_channels"),
        (RawSpec(audio_channels=-1), "spec.audio_channels"),
    ],
)
def test_invalid_media_fields_are_named(raw: RawSpec, field: str) -> None:
    with pytest.raises(InvalidArgument) as info:
        resolve(raw)
    assert info.value.field == field


def test_a_toml_scenario_sets_every_media_field() -> None:
    cat = catalog.parse(
        "[scenarios.radio]\n"
        'gop_s = 4\nmaxrate = "300k"\nbufsize = "150k"\naudio_codec = "opus"\n'
        'audio_bitrate = "48k"\naudio_sample_rate = 24000\naudio_channels = 1\n'
        'codec = "vp9"\n'
        "[scenarios.silent]\n"
        'audio_codec = "none"\ngop_s = 0.5\n'
        "[scenarios.live-1080p]\n"
        "gop_s = 1\n"
    )
    radio = resolve(RawSpec(scenario="radio", output="r.mkv"), cat)
    assert (radio.gop_s, radio.maxrate, radio.bufsize) == (4, "300k", "150k")
    assert (radio.audio_codec, radio.audio_bitrate) == ("opus", "48k")
    assert (radio.audio_sample_rate, radio.audio_channels) == (24000, 1)
    silent = resolve(RawSpec(scenario="silent"), cat)
    assert (silent.audio_codec, silent.gop_s, silent.width) == ("none", 0.5, 320)
    live = cat["live-1080p"]
    assert (live.gop_s, live.maxrate, live.audio_codec) == (1, "6000k", "aac")
    # A job still overrides the file's values.
    assert resolve(RawSpec(scenario="radio", gop_s=2, audio_channels=2), cat).gop_s == 2


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[scenarios.x]\ngop_s = '2'\n", r"scenarios\.x\.gop_s: wrong type str"),
        ("[scenarios.x]\ngop_s = true\n", r"scenarios\.x\.gop_s: wrong type bool"),
        ("[scenarios.x]\naudio_sample_rate = 48000.0\n", r"x\.audio_sample_rate: wrong type"),
        ("[scenarios.x]\naudio_channels = true\n", r"scenarios\.x\.audio_channels: wrong type"),
        ("[scenarios.x]\nmaxrate = 6000\n", r"scenarios\.x\.maxrate: wrong type int"),
        ("[scenarios.x]\naudio = 'aac'\n", "unknown key 'audio'"),
        # Values are checked like a job's, naming the scenario's key.
        ("[scenarios.x]\naudio_codec = 'mp3'\n", r"scenarios\.x\.audio_codec: must be one of"),
        ("[scenarios.x]\ngop_s = 90\n", r"scenarios\.x\.gop_s: must be from 0 to 60"),
        ("[scenarios.x]\nmaxrate = '100k'\n", r"scenarios\.x\.maxrate: must be at least"),
        ("[scenarios.x]\naudio_sample_rate = 1\n", r"scenarios\.x\.audio_sample_rate"),
        ("[scenarios.x]\nwidth = 33\n", r"scenarios\.x\.width: must be an even number"),
        ("[scenarios.x]\nfps = -1\n", r"scenarios\.x\.fps"),
        ("[scenarios.x]\npreset = 'turbo'\n", r"scenarios\.x\.preset"),
        ("[scenarios.x]\nbitrate = 'fast'\n", r"scenarios\.x\.bitrate: malformed"),
    ],
)
def test_bad_media_keys_in_a_scenario_file(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        catalog.parse(text)


@pytest.mark.parametrize(
    "raw",
    [
        RawSpec(scenario="live-1080p", gop_s=1.5, audio_channels=1),
        RawSpec(maxrate="4M", bufsize="3M", audio_codec="opus", output="a.mkv"),
        RawSpec(audio_codec="none"),
    ],
)
def test_media_fields_survive_submit_and_assign(raw: RawSpec) -> None:
    from ffrtmp import wire

    spec = resolve(raw)
    # A client's submit reaches the master as a RawSpec, resolves the same, and the
    # resolved spec reaches the worker unchanged in Assign.
    assert resolve(wire.raw_spec(wire.spec_pb(spec))) == spec
    assert wire.spec(wire.spec_pb(spec)) == spec
