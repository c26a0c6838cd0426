"""Two-pass rate control: what a job may ask, the argv of each pass, the
worker that can run it, and a split's segments (both passes each)."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrtmp.core.argv import build_argv
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.ffmpeg_build import FfmpegFeatures
from ffrtmp.core.matching import requirements
from ffrtmp.core.model import Lease
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.core.spec_video import check_passes
from ffrtmp.core.split import plan, segment_spec
from ffrtmp.worker.commands import commands
from ffrtmp.worker.paths import resolve_io
from ffrtmp.worker.staging import Staged


def _spec(**kw: object):  # type: ignore[no-untyped-def]
    base: dict[str, object] = dict(scenario="test", input="clips/in.mp4", duration_s=60.0,
                                   bitrate="300k", fps=25.0, output="out/movie.mp4", passes=2)
    return resolve(RawSpec(**{**base, **kw}))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "problem"),
    [
        (dict(passes=3), "0, 1 or 2"),
        (dict(codec="vp9"), "x264 only"),
        (dict(output="hls/show/"), "file output"),
        (dict(live=True, output="rtmp://example.org/live/k"), "file output"),
    ],
)
def test_two_passes_need_x264_a_bitrate_and_a_file(kw: dict[str, object], problem: str) -> None:
    with pytest.raises(InvalidArgument, match=problem) as err:
        _spec(**kw)
    assert err.value.field == "spec.passes"
    with pytest.raises(InvalidArgument, match="bitrate"):  # a scenario without one
        check_passes(2, "h264", "", False, "o.mp4")


def test_each_pass_has_its_argv_and_the_job_needs_x264() -> None:
    spec = _spec()
    assert "encoder:libx264" in requirements(spec)
    assert "encoder:libx264" not in requirements(_spec(passes=1))
    first = build_argv("ffmpeg", spec, input_url="in.mp4", output_url="", encoder="libx264",
                       rc_pass=1, pass_log="/o/.log/x264")
    second = build_argv("ffmpeg", spec, input_url="in.mp4", output_url="/o/m.mp4",
                        encoder="libx264", rc_pass=2, pass_log="/o/.log/x264")
    for argv, n in ((first, "1"), (second, "2")):
        p = argv.index("-pass")
        assert argv[p:p + 4] == ["-pass", n, "-passlogfile", "/o/.log/x264"]
        assert argv[argv.index("-b:v") + 1] == "300k"
    assert first[-3:] == ["-f", "null", "-"] and "-an" in first  # the log alone
    assert second[-1] == "/o/m.mp4" and "-c:a" in second
    assert "-pass" not in build_argv("ffmpeg", _spec(passes=0), input_url="i", output_url="o.mp4",
                                     encoder="libx264")


def test_a_split_runs_both_passes_in_each_segment_with_a_log_of_its_own(tmp_path: Path) -> None:
    p = plan(_spec(split="10s"), "g1", 10.0)
    seg = segment_spec(p, p.segments[2])
    assert seg.passes == 2 and (seg.seek_s, seg.duration_s) == (20.0, 10.0)
    assert p.audio is not None and p.audio.passes == 0 and p.join.passes == 0
    runs = {}
    for attempt in (1, 2):
        lease = Lease("seg2", attempt)
        io = resolve_io(seg, lease.job_id, input_root=tmp_path / "in", output_root=tmp_path,
                        rtmp_base="", blob_input=None)
        staged = Staged.file(io.output_path, lease)  # type: ignore[arg-type]
        runs[attempt] = commands("ffmpeg", seg, io, staged, lease, encoder="libx264",
                                 has_audio=True, features=FfmpegFeatures())
    one, two = runs[1], runs[2]
    assert len(one.argvs) == 2 and one.argvs[0][1] is None and one.argvs[1][1] is not None
    assert one.scratch is not None and one.scratch.parent == tmp_path / "out/movie.parts"
    assert one.scratch.name.startswith(".") and one.scratch != two.scratch  # per attempt
    log = one.argvs[0][0][one.argvs[0][0].index("-passlogfile") + 1]
    assert log.startswith(str(one.scratch)) and str(one.scratch) in " ".join(one.argvs[1][0])
