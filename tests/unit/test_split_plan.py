"""The split plan: cut points on the GOP grid, segment and join specs, the join's
argv, and what a split may combine; then the scheduler making the group."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from ffrtmp.core.argv import build_argv
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.join import concat_list, join_argv, video_parts
from ffrtmp.core.model import JobState
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.core.spec_split import check_together
from ffrtmp.core.split import cut_points, is_part, plan, segment_length, segment_spec
from tests.helpers.sched import SchedHarness


@pytest.mark.parametrize(
    ("duration", "length", "gop", "fps", "starts"),
    [
        (60.0, 10.0, 2.0, 25.0, [0, 10, 20, 30, 40, 50]),
        (64.0, 10.0, 2.0, 25.0, [0, 10, 20, 30, 40, 50]),  # a 4 s tail joins the last
        (66.0, 10.0, 2.0, 25.0, [0, 10, 20, 30, 40, 50, 60]),
        (60.0, 9.0, 2.0, 25.0, [0, 10, 20, 30, 40, 50]),  # rounded to whole GOPs
        (10.0, 3.0, 1.0, 30.0, [0, 3, 6]),
        (5.0, 10.0, 2.0, 25.0, [0]),
        (60.0, 10.0, 2.0, 0.0, [0, 10, 20, 30, 40, 50]),  # rate unknown: by time
    ],
)
def test_cut_points_fall_on_the_gop_grid(
    duration: float, length: float, gop: float, fps: float, starts: list[float]
) -> None:
    assert cut_points(duration, length, gop, fps) == starts


def _spec(**kw: object):  # type: ignore[no-untyped-def]
    base: dict[str, object] = dict(scenario="test", input="clips/in.mp4", duration_s=60.0,
                                   bitrate="300k", fps=25.0, output="out/movie.mp4")
    return resolve(RawSpec(**{**base, **kw}))  # type: ignore[arg-type]


def test_segment_length_and_auto() -> None:
    assert segment_length(_spec(), 2) == 0.0
    assert segment_length(_spec(split="10s"), 1) == 10.0
    assert segment_length(_spec(split="auto"), 1) == 0.0  # one worker: one encode
    assert segment_length(_spec(split="auto", duration_s=30.0), 4) == 0.0  # too short
    assert segment_length(_spec(split="auto", duration_s=400.0), 4) == 50.0
    assert segment_length(_spec(split="auto", duration_s=600.0), 4) == 60.0  # long: more
    assert segment_length(_spec(split="auto", duration_s=100.0), 8) == 10.0
    with pytest.raises(InvalidArgument, match=r"spec\.duration_s"):
        segment_length(_spec(split="10s", duration_s=0.0), 2)
    with pytest.raises(InvalidArgument, match=r"spec\.split"):
        _spec(split="1s")
    with pytest.raises(InvalidArgument, match=r"spec\.split"):
        _spec(split="often")


def test_live_jobs_and_pushes_are_never_split() -> None:
    with pytest.raises(InvalidArgument, match="live"):
        check_together(_spec(split="10s", live=True, output=""))
    for output in ("null:", "rtmp://example.org/live/x"):
        with pytest.raises(InvalidArgument, match="file or HLS output"):
            check_together(_spec(split="10s", output=output))
    check_together(_spec(split="10s"))
    check_together(_spec(split="10s", output="hls/show/"))  # core.split_hls


def test_the_plan_shares_gop_and_caps_and_leaves_audio_to_the_join() -> None:
    p = plan(_spec(split="10s"), "g1", 10.0)
    assert (p.parent.gop_s, p.parent.maxrate) == (2.0, "450000")  # capped VBR by default
    assert [s.output for s in p.segments][:2] == ["out/movie.parts/0000.mp4",
                                                  "out/movie.parts/0001.mp4"]
    seg = segment_spec(p, p.segments[3])
    assert (seg.seek_s, seg.duration_s, seg.audio_codec, seg.split) == (30.0, 10.0, "none", "part")
    assert (seg.maxrate, seg.gop_s, seg.priority) == ("450000", 2.0, p.parent.priority)
    assert p.audio is not None and p.audio.output == "out/movie.parts/audio.mp4"
    assert (p.audio.split, p.audio.seek_s, p.audio.duration_s) == ("audio", 0.0, 60.0)
    assert is_part(p.audio) and is_part(segment_spec(p, p.segments[0]))  # not probed
    assert not is_part(p.join) and not is_part(p.parent)
    assert p.join.concat == (*(s.output for s in p.segments), p.audio.output)
    assert (p.join.output, p.join.audio_codec, p.join.split) == ("out/movie.mp4", "aac", "join")
    assert sum(s.duration_s for s in p.segments) == 60.0
    argv = build_argv("ffmpeg", seg, input_url="/in/clips/in.mp4", output_url="/o/s.mp4",
                      encoder="libx264")
    i = argv.index("-i")
    assert argv[i - 2:i + 2] == ["-ss", "30", "-i", "/in/clips/in.mp4"]
    assert argv[argv.index("-g"):argv.index("-g") + 4] == ["-g", "50", "-keyint_min", "50"]
    assert "-an" in argv and argv[argv.index("-t") + 1] == "10"
    assert argv[argv.index("-mbtree"):argv.index("-mbtree") + 2] == ["-mbtree", "0"]
    whole = build_argv("ffmpeg", p.parent, input_url="i.mp4", output_url="o.mp4",
                       encoder="libx264")
    assert "-mbtree" not in whole
    # No output name: the group's id names the output and its parts.
    assert plan(_spec(split="10s", output=""), "g1", 10.0).join.output == "g1.mp4"


def test_the_audio_is_encoded_once_beside_the_segments_and_copied_by_the_join() -> None:
    p = plan(_spec(split="10s"), "g1", 10.0)
    assert p.audio is not None
    audio = build_argv("ffmpeg", p.audio, input_url="/in/in.mp4", output_url="/o/a.mp4",
                       encoder="libx264")
    assert "-vn" in audio and "-c:v" not in audio and "-ss" not in audio
    assert audio[audio.index("-c:a") + 1] == "aac" and audio[audio.index("-t") + 1] == "60"
    parts = [Path(f"/w/{i}.mp4") for i in range(7)]
    assert video_parts(p.join, parts) == (parts[:6], parts[6])
    argv = join_argv("ffmpeg", p.join, list_path="/tmp/l.txt", input_url="/in/in.mp4",
                     output_url="/o/movie.mp4", has_audio=True, audio_part="/w/6.mp4")
    m = argv.index("-map")
    assert argv[m - 2:m + 8] == ["-i", "/w/6.mp4", "-map", "0:v:0", "-map", "1:a:0?", "-c:v",
                                 "copy", "-c:a", "copy"]
    assert "/in/in.mp4" not in argv
    # Without audio: no audio part, and the join copies the video alone.
    mute = plan(_spec(split="10s", audio_codec="none"), "g1", 10.0)
    assert mute.audio is None and mute.join.split == "" and len(mute.join.concat) == 6
    assert video_parts(mute.join, parts[:6]) == (parts[:6], None)


def test_a_join_made_before_the_audio_part_encodes_the_audio_itself() -> None:
    p = plan(_spec(split="10s"), "g1", 10.0)
    older = replace(p.join, split="", concat=p.join.concat[:-1])
    argv = join_argv("ffmpeg", older, list_path="/tmp/l.txt", input_url="/in/in.mp4",
                     output_url="/o/movie.mp4", has_audio=True)
    assert argv[argv.index("-f"):argv.index("-f") + 6] == ["-f", "concat", "-safe", "0", "-i",
                                                         "/tmp/l.txt"]
    m = argv.index("-map")
    assert argv[m:m + 8] == ["-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy", "-c:a", "aac"]
    silent = join_argv("ffmpeg", older, list_path="l", input_url="i", output_url="o.mp4",
                       has_audio=False)
    assert "-an" in silent and "1:a:0" not in silent
    assert concat_list([Path("/o/it's.mp4")]) == "file '/o/it'\\''s.mp4'\n"


async def test_a_split_submit_makes_a_group_over_the_workers(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a, b = h.worker("a"), h.worker("b")
        job, created = await h.scheduler.submit(
            RawSpec(scenario="test", input="lavfi:testsrc2", duration_s=30.0, fps=25.0,
                    split="10s", priority="high")
        )
        await h.settle()
        assert created and job.group and job.state == JobState.BLOCKED
        kids = await h.store.children(job.id)
        # The audio first, three segments, then the join waiting for all four
        # (its parts in order: the segments, then the audio).
        assert [k.spec.split for k in kids] == ["audio"] + ["part"] * 3 + ["join"]
        assert kids[-1].depends_on == tuple(k.id for k in [*kids[1:4], kids[0]])
        assert {k.spec.priority for k in kids} == {"high"}
        assert len(a.assigned()) == len(b.assigned()) == 1  # spread over both
        # auto with one worker fitting: one plain encode.
        b.disconnect()
        h.scheduler.liveness.touch(a.s)
        plain, _ = await h.scheduler.submit(
            RawSpec(scenario="test", duration_s=120.0, split="auto"))
        assert not plain.group and plain.state == JobState.QUEUED
