"""`ffrtmp jobs submit` flags into a JobSpec, and the media parts of the CLI's
JSON and table views; no master needed."""

from __future__ import annotations

import pytest

from ffrtmp.cli import output
from ffrtmp.cli.main import parser
from ffrtmp.cli.media_output import eta_text, output_info_lines
from ffrtmp.cli.submit import spec_from
from ffrtmp.v1 import common_pb2


def spec_of(*flags: str) -> common_pb2.JobSpec:
    return spec_from(parser().parse_args(["jobs", "submit", *flags]))


def test_only_typed_flags_are_sent() -> None:
    spec = spec_of()
    assert spec == common_pb2.JobSpec()
    assert not spec.HasField("nice") and not spec.HasField("live")


def test_every_media_and_placement_flag() -> None:
    spec = spec_of(
        *["--output", "hls/show/", "--rendition", "1280x720@2500k", "--rendition", "640x360@800k"],
        *["--gop", "500ms", "--maxrate", "3M", "--bufsize", "6M", "--encoder-preset", "p4"],
        *["--audio-codec", "opus", "--audio-bitrate", "96k", "--audio-sample-rate", "24000"],
        *["--audio-channels", "1", "--threads", "4", "--nice", "0"],
        *["--require-encoder", "h264_nvenc", "--require-encoder", "libx264", "--require-gpu"],
        *["--require-label", "zone=eu", "--require-label", "tier=a=b"],
    )
    assert [(r.width, r.height, r.bitrate) for r in spec.renditions] == [
        (1280, 720, "2500k"),
        (640, 360, "800k"),
    ]
    assert (spec.gop_s, spec.maxrate, spec.bufsize, spec.preset) == (0.5, "3M", "6M", "p4")
    assert (spec.audio_codec, spec.audio_bitrate) == ("opus", "96k")
    assert (spec.audio_sample_rate, spec.audio_channels, spec.threads) == (24000, 1, 4)
    assert spec.HasField("nice") and spec.nice == 0  # 0 is a choice, not "unset"
    r = spec.requirements
    assert list(r.encoders) == ["h264_nvenc", "libx264"] and r.gpu
    assert dict(r.labels) == {"zone": "eu", "tier": "a=b"}


@pytest.mark.parametrize(
    "flags",
    [
        ["--rendition", "1280x720"],
        ["--rendition", "1280x@1M"],
        ["--require-label", "zone"],
        ["--require-label", "=x"],
        ["--audio-codec", "mp3"],
        ["--gop", "soon"],
    ],
)
def test_malformed_flags_are_usage_errors(flags: list[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parser().parse_args(["jobs", "submit", *flags])
    assert info.value.code == 2


def _job() -> common_pb2.Job:
    spec = common_pb2.JobSpec(scenario="test", gop_s=2, audio_codec="aac", audio_channels=2)
    info = common_pb2.OutputInfo(
        format="mov,mp4,m4a,3gp,3g2,mj2",
        duration_s=2.0,
        size_bytes=3 * 2**20,
        bitrate_bps=2_500_000,
        streams=[
            common_pb2.StreamInfo(
                index=0, kind="video", codec="h264", width=320, height=240, fps=10
            ),
            common_pb2.StreamInfo(
                index=1, kind="audio", codec="aac", sample_rate=48000, channels="stereo"
            ),
        ],
    )
    job = common_pb2.Job(id="j1", spec=spec, state=common_pb2.JOB_STATE_SUCCEEDED)
    job.output_info.CopyFrom(info)
    job.progress.eta_s = 0
    return job


def test_job_json_has_output_info_and_media_fields() -> None:
    d = output.job_dict(_job())
    assert d["output_info"]["format"].startswith("mov,mp4")
    assert [s["kind"] for s in d["output_info"]["streams"]] == ["video", "audio"]
    assert d["output_info"]["streams"][1]["channels"] == "stereo"
    assert (d["gop_s"], d["audio_codec"], d["nice"], d["eta_s"]) == (2, "aac", None, 0)
    assert d["requirements"] == {"encoders": [], "gpu": False, "labels": {}}
    assert output.job_dict(common_pb2.Job(id="j2"))["output_info"] is None


def test_output_info_lines() -> None:
    info = output.job_dict(_job())["output_info"]
    assert output_info_lines(info) == [
        "mov,mp4,m4a,3gp,3g2,mj2, 2 s, 3.0 MiB, 2.50 Mb/s",
        "#0 video h264 320x240 10 fps",
        "#1 audio aac 48000 Hz stereo",
    ]


@pytest.mark.parametrize(
    ("seconds", "text"), [(0.4, "0s"), (59, "59s"), (61, "1m01s"), (3725, "1h02m")]
)
def test_eta_text(seconds: float, text: str) -> None:
    assert eta_text(seconds) == text
