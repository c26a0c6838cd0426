"""Output kinds and HLS layout; the new spec, progress and output fields survive
storage (asdict/JSON) and the wire."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import pytest

from ffrtmp import wire
from ffrtmp.core.model import JobSpec, OutputInfo, ProgressInfo, Rendition, StreamInfo
from ffrtmp.core.outputs import HlsLayout, OutputKind, hls_layout, output_kind


@pytest.mark.parametrize(
    ("output", "live", "kind"),
    [
        ("", False, OutputKind.FILE),  # <job id>.mp4
        ("", True, OutputKind.STREAM),  # <rtmp base>/<job id>
        ("a/b.mp4", True, OutputKind.FILE),  # a live recording
        ("x.mkv", False, OutputKind.FILE),
        ("rtmp://h/l/k", True, OutputKind.STREAM),
        ("RTMPS://h/l/k", False, OutputKind.STREAM),
        ("srt://h:9000", True, OutputKind.STREAM),
        ("hls/show/", False, OutputKind.HLS),
        ("hls/show/index.M3U8", True, OutputKind.HLS),
        ("null:", False, OutputKind.NULL),
        ("null:", True, OutputKind.NULL),
    ],
)
def test_output_kind(output: str, live: bool, kind: OutputKind) -> None:
    assert output_kind(output, live) is kind
    assert kind.local is (kind in (OutputKind.FILE, OutputKind.HLS))


@pytest.mark.parametrize(
    ("output", "layout"),
    [
        ("hls/show/", HlsLayout("hls/show", "master.m3u8")),
        ("hls/show//", HlsLayout("hls/show", "master.m3u8")),
        ("a/b/c/index.m3u8", HlsLayout("a/b/c", "index.m3u8")),
        ("show/live.m3u8", HlsLayout("show", "live.m3u8")),
    ],
)
def test_hls_layout(output: str, layout: HlsLayout) -> None:
    assert hls_layout(output) == layout


@pytest.mark.parametrize("output", ["index.m3u8", "/", "/x.m3u8", "show/.m3u8"])
def test_hls_layout_needs_a_directory(output: str) -> None:
    with pytest.raises(ValueError, match="directory"):
        hls_layout(output)


SPEC = JobSpec(
    scenario="test",
    queue="default",
    priority="medium",
    input="lavfi:testsrc2",
    output="hls/show/",
    codec="h264",
    bitrate="500k",
    width=640,
    height=360,
    fps=25,
    duration_s=4,
    live=False,
    preset="veryfast",
    renditions=(Rendition(640, 360, "800k"), Rendition(320, 180, "300k")),
    threads=2,
    nice=12,
)
INFO = OutputInfo(
    "hls",
    4.0,
    123_456,
    246_912,
    (
        StreamInfo(0, "video", "h264", 640, 360, 25.0, bitrate_bps=900_000),
        StreamInfo(1, "audio", "aac", sample_rate=48000, channels="stereo"),
    ),
)


def test_spec_survives_the_store() -> None:
    assert JobSpec.from_dict(json.loads(json.dumps(asdict(SPEC)))) == SPEC


def test_an_older_stored_spec_gets_the_new_defaults() -> None:
    old = asdict(replace(SPEC, renditions=(), output="a.mp4"))
    for key in ("renditions", "threads", "nice"):
        del old[key]
    spec = JobSpec.from_dict(old)
    assert (spec.renditions, spec.threads, spec.nice) == ((), 0, None)


def test_output_info_survives_the_store() -> None:
    assert OutputInfo.from_dict(json.loads(json.dumps(asdict(INFO)))) == INFO


@pytest.mark.parametrize("spec", [SPEC, replace(SPEC, nice=None, renditions=(), threads=0)])
def test_spec_survives_the_wire(spec: JobSpec) -> None:
    assert wire.spec(wire.spec_pb(spec)) == spec


def test_nice_zero_is_not_unset() -> None:
    assert wire.spec(wire.spec_pb(replace(SPEC, nice=0))).nice == 0


@pytest.mark.parametrize("eta", [None, 0.0, 12.5])
def test_progress_eta_survives_the_wire(eta: float | None) -> None:
    p = ProgressInfo(40.0, 100, 25.0, 2.0, 4.0, "900kbits/s", eta)
    assert wire.progress(wire.progress_pb(p)) == p


def test_output_info_survives_the_wire() -> None:
    assert wire.output_info(wire.output_info_pb(INFO)) == INFO


def test_output_info_from_a_worker_is_bounded() -> None:
    many = replace(INFO, streams=INFO.streams * 100, format="x" * 500)
    back = wire.output_info(wire.output_info_pb(many))
    assert len(back.streams) == wire.MAX_STREAMS and len(back.format) == 64


def test_local_outputs_go_to_their_owners_name_space() -> None:
    from ffrtmp.core.outputs import owner_space

    assert owner_space("clip.mp4", False, "alice", "j1") == "alice/clip.mp4"
    assert owner_space("hls/show/", False, "alice", "j1") == "alice/hls/show/"
    assert owner_space("", False, "alice", "j1") == "alice/j1.mp4"
    for untouched in ("rtmp://h/live/k", "null:", "srt://h:9000"):
        assert owner_space(untouched, False, "alice", "j1") == untouched
    assert owner_space("", True, "alice", "j1") == ""  # a live push to the RTMP base
    assert owner_space("clip.mp4", False, "", "j1") == "clip.mp4"
