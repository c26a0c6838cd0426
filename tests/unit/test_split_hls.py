"""Split HLS ladders, the pure parts: the plan (grid, parts, finish), the argv of a
part and of the finish, which blob names a part, the playlists read and written,
and the scheduler making the group."""

from __future__ import annotations

from pathlib import Path

import pytest

from ffrtmp.core.argv import build_argv
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.hls_finish import audio_rendition, finish_argv
from ffrtmp.core.hls_playlists import (
    Audio,
    MediaSegment,
    Part,
    Variant,
    read_master,
    read_media,
    stitch,
    write_media,
)
from ffrtmp.core.join import stored_parts
from ffrtmp.core.model import Artifact, Job, JobSpec, JobState, OutputInfo, Rendition
from ffrtmp.core.spec import RawSpec, resolve
from ffrtmp.core.spec_split import check_together
from ffrtmp.core.split_hls import hls_unit, part_spec, plan_split
from tests.helpers.sched import SchedHarness

LADDER = (Rendition(320, 180, "300k"), Rendition(160, 90, "120k"))


def _spec(**kw: object) -> JobSpec:
    base: dict[str, object] = dict(scenario="test", input="clips/in.mp4", duration_s=60.0,
                                   fps=25.0, output="hls/show/", renditions=LADDER)
    return resolve(RawSpec(**{**base, **kw}))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("gop", "unit"), [(2.0, 2.0), (1.0, 2.0), (0.5, 2.0), (3.0, 3.0), (1.5, 1.5), (4.0, 4.0)]
)
def test_a_media_segment_is_whole_gops_near_two_seconds(gop: float, unit: float) -> None:
    assert hls_unit(gop) == unit


@pytest.mark.parametrize(
    ("duration", "split", "gop", "starts"),
    [
        (60.0, "10s", 0.0, [0, 10, 20, 30, 40, 50]),  # GOP 2 s by default: 2 s units
        (60.0, "9s", 2.0, [0, 10, 20, 30, 40, 50]),  # rounded to whole units
        (20.0, "6s", 1.0, [0, 6, 12]),  # a 2 s tail joins the last part
        (20.0, "7s", 3.0, [0, 6, 12]),  # 3 s GOPs: 3 s units, cuts on them
    ],
)
def test_cuts_fall_on_whole_media_segments(
    duration: float, split: str, gop: float, starts: list[float]
) -> None:
    spec = _spec(duration_s=duration, split=split, gop_s=gop)
    p = plan_split(spec, "g1", float(split.rstrip("s")))
    assert [s.start_s for s in p.segments] == starts
    assert sum(s.duration_s for s in p.segments) == duration
    assert [s.output for s in p.segments][:2] == ["hls/show.parts/0000/", "hls/show.parts/0001/"]
    assert p.join.output == "hls/show/" and p.join.split == ""
    assert p.join.concat == tuple(s.output for s in p.segments)
    check_together(p.join)


def test_a_part_encodes_every_rendition_without_audio() -> None:
    p = plan_split(_spec(split="10s", bitrate="300k"), "g1", 10.0)
    part = part_spec(p, p.segments[2])
    assert (part.seek_s, part.duration_s, part.split, part.audio_codec) == (20.0, 10.0, "part",
                                                                           "none")
    assert part.renditions == LADDER and part.gop_s == 2.0 and part.maxrate == "450000"
    argv = build_argv("ffmpeg", part, input_url="/in/in.mp4", output_url="/o/p", encoder="libx264")
    i = argv.index("-i")
    assert argv[i - 2:i + 2] == ["-ss", "20", "-i", "/in/in.mp4"]
    assert argv[argv.index("-output_ts_offset") + 1] == "21"  # its start, plus TS_OFFSET_S
    assert argv[argv.index("-hls_time") + 1] == "2"
    assert argv[argv.index("-var_stream_map") + 1] == "v:0 v:1"
    assert "0:a:0" not in argv and "-an" in argv and "-mbtree" in argv
    assert argv[argv.index("-t") + 1] == "10" and argv[-1] == "/o/p/master_%v.m3u8"
    # An ordinary ladder is unchanged: no offset, the usual media segments.
    whole = build_argv("ffmpeg", _spec(), input_url="i", output_url="/o", encoder="libx264")
    assert "-output_ts_offset" not in whole and "-mbtree" not in whole
    # A file split is core.split's plan, as before.
    files = plan_split(_spec(split="10s", output="out/movie.mp4", renditions=()), "g1", 10.0)
    assert files.segments[0].output == "out/movie.parts/0000.mp4"


def test_the_finish_encodes_the_audio_once_or_reads_the_ladder() -> None:
    p = plan_split(_spec(split="10s", output="hls/show/index.m3u8"), "g1", 10.0)
    audio = audio_rendition(p.join, has_audio=True)
    assert audio == Audio("index_a.m3u8", 64000, "mp4a.40.2")  # the scenario's 64k
    argv = finish_argv("ffmpeg", p.join, input_url="/in/in.mp4", directory="/o/.x", audio=audio)
    assert argv[argv.index("-i") + 1] == "/in/in.mp4" and "-vn" in argv
    assert argv[argv.index("-output_ts_offset") + 1] == "1"
    assert argv[argv.index("-t") + 1] == "60" and argv[argv.index("-hls_time") + 1] == "2"
    assert argv[-3:] == ["-hls_segment_filename", "/o/.x/index_a_%05d.ts", "/o/.x/index_a.m3u8"]
    assert audio_rendition(p.join, has_audio=False) is None
    silent = finish_argv("ffmpeg", p.join, input_url="i", directory="/o/.x", audio=None)
    assert silent[-9:] == ["-i", "/o/.x/index_0.m3u8", "-map", "0:v:0", "-c", "copy", "-f",
                           "null", "-"]


def _done(artifacts: list[str]) -> Job:
    info = OutputInfo("hls", 10.0, 1, artifacts=tuple(
        Artifact(n, 1, "0" * 64, "", f"jobs/x/1/{n}") for n in artifacts))
    return Job(id="x", seq=0, spec=JobSpec(), state=JobState.SUCCEEDED, created_ms=0,
               updated_ms=0, output_info=info)


def test_a_part_is_handed_to_the_finish_as_its_master_playlist_blob() -> None:
    part = _done(["0001/master.m3u8", "0001/master_0.m3u8", "0001/master_0_00000.ts"])
    assert stored_parts(("a",), {"a": part}, ("hls/show.parts/0001/",)) == (
        "blob:jobs/x/1/0001/master.m3u8",)
    assert stored_parts(("a",), {"a": _done(["0001/master_0.m3u8"])},
                        ("hls/show.parts/0001/",)) is None  # no master: local parts
    assert stored_parts(("a",), {"a": _done(["p.mp4"])}, ("out/p.mp4",)) == ("blob:jobs/x/1/p.mp4",)


def test_a_join_takes_parts_of_its_own_kind_only() -> None:
    with pytest.raises(InvalidArgument, match="every part must be a hls output"):
        check_together(_spec(concat=("out/a.mp4",)))
    with pytest.raises(InvalidArgument, match="every part must be a file output"):
        check_together(_spec(output="out/m.mp4", renditions=(), concat=("hls/p/",)))


MEDIA = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-TARGETDURATION:2
#EXTINF:2.000000,
master_0_00000.ts
#EXTINF:1.960000,
master_0_00001.ts
#EXT-X-ENDLIST
"""
MASTER = """#EXTM3U
#EXT-X-VERSION:3
#EXT-X-STREAM-INF:BANDWIDTH=132000,RESOLUTION=160x90,CODECS="avc1.64000b"
master_0.m3u8
"""


def test_playlists_are_read_strictly() -> None:
    assert read_media(MEDIA) == (MediaSegment("master_0_00000.ts", 2.0),
                                 MediaSegment("master_0_00001.ts", 1.96))
    assert read_master(MASTER) == (Variant("master_0.m3u8", 132000, "160x90", "avc1.64000b"),)
    for bad, why in [
        (MEDIA.replace("#EXT-X-ENDLIST\n", ""), "not finished"),  # a part still being written
        (MEDIA.replace("master_0_00001.ts", "../other/x.ts"), "not a file beside"),
        (MEDIA.replace("master_0_00001.ts", "/etc/passwd"), "not a file beside"),
        (MEDIA.replace("1.960000", "nan"), "bad segment duration"),
        ("#EXTM3U\n#EXT-X-ENDLIST\n", "no segment"),
        ("<html>", "not an HLS playlist"),
    ]:
        with pytest.raises(ValueError, match=why):
            read_media(bad)
    with pytest.raises(ValueError, match="no rendition"):
        read_master("#EXTM3U\n")


def test_the_ladder_is_stitched_in_order_with_one_sequence_per_rendition() -> None:
    def part(durations: list[float], bandwidths: tuple[int, int]) -> Part:
        variants = tuple(Variant(f"master_{r}.m3u8", b, f"{16 * (2 - r)}x9", "avc1.x")
                         for r, b in enumerate(bandwidths))
        media = tuple(tuple(MediaSegment(f"master_{r}_{k:05d}.ts", d)
                            for k, d in enumerate(durations)) for r in range(2))
        return Part(variants, media)

    parts = [part([2.0, 2.0], (100000, 50000)), part([2.0, 1.6], (140000, 40000))]
    ladder = stitch(parts, "index", "index.m3u8", Audio("index_a.m3u8", 64000, "mp4a.40.2"))
    assert ladder.files["index_0_00002.ts"] == (1, "master_0_00000.ts")
    assert ladder.files["index_1_00003.ts"] == (1, "master_1_00001.ts")
    assert len(ladder.files) == 8
    media = ladder.playlists["index_1.m3u8"]
    assert media.count("#EXTINF:") == 4 and "#EXTINF:1.600000,\nindex_1_00003.ts" in media
    assert "#EXT-X-TARGETDURATION:2" in media and media.endswith("#EXT-X-ENDLIST\n")
    assert "DISCONTINUITY" not in media
    master = ladder.playlists["index.m3u8"]
    assert '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"' in master and 'URI="index_a.m3u8"' in master
    # The peak over the parts, plus the audio.
    assert ('#EXT-X-STREAM-INF:BANDWIDTH=204000,RESOLUTION=32x9,CODECS="avc1.x,mp4a.40.2",'
            'AUDIO="audio"\nindex_0.m3u8') in master
    assert read_master(master)[1] == Variant("index_1.m3u8", 114000, "16x9", "avc1.x,mp4a.40.2")
    with pytest.raises(ValueError, match="same renditions"):
        stitch([parts[0], Part(parts[1].variants[:1], parts[1].media[:1])], "i", "i.m3u8", None)
    assert "#EXT-X-TARGETDURATION:3" in write_media([MediaSegment("a.ts", 2.6)])


async def test_a_split_hls_submit_makes_a_group_of_ladder_parts(tmp_path: Path) -> None:
    async with SchedHarness(tmp_path) as h:
        a, b = h.worker("a"), h.worker("b")
        job, created = await h.scheduler.submit(
            RawSpec(scenario="test", input="lavfi:testsrc2", duration_s=30.0, fps=25.0,
                    split="10s", output="hls/show/", renditions=LADDER))
        await h.settle()
        assert created and job.group and job.state == JobState.BLOCKED
        kids = await h.store.children(job.id)
        assert [k.spec.output for k in kids] == [
            "hls/show.parts/0000/", "hls/show.parts/0001/", "hls/show.parts/0002/", "hls/show/"]
        assert all(k.spec.renditions == LADDER for k in kids)
        assert kids[-1].spec.concat == tuple(k.spec.output for k in kids[:3])
        assert len(a.assigned()) == len(b.assigned()) == 1
