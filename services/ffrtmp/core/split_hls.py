"""A split job whose output is an HLS ladder: the plan. Pure, like core.split.

Each segment is one ordinary job that encodes its stretch of the input into
every rendition at once (one decode, the ladder's usual filter graph), writing
HLS media segments — MPEG-TS, as the ordinary HLS path does — into a directory
of its own. One job per segment rather than one per segment and rendition: the
input is decoded once per segment, the renditions are cut by the same encoder
run on the same keyframes, and a group of N segments stays N leases.

Alignment, which ABR switching needs: cuts fall on a grid of whole HLS
segments (`hls_unit`: whole GOPs, about HLS_SEGMENT_S long), and each segment's
muxer cuts its media segments on the same unit, so every rendition's media
segments start at the same times, each on a keyframe. Each part's timestamps
are offset by its start in the input (plus one constant), so they continue
across parts with no discontinuity.

The finish (the group's last child) writes no video: it encodes the audio once
over the whole input as a rendition of its own (per-segment AAC priming would
leave a gap at every cut), renames the parts' media segments into one sequence
per rendition, and writes the media and master playlists, once.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import PurePosixPath

from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import JobSpec
from ffrtmp.core.outputs import HLS_SEGMENT_S, OutputKind, hls_layout, output_kind
from ffrtmp.core.split import (
    MAX_SEGMENTS,
    PART,
    SPLIT_GOP_S,
    Plan,
    Segment,
    cut_points,
    plan,
    rate_caps,
    segment_spec,
)

# Added to every part's and the audio's timestamps: more than any encoder's
# reordering delay or AAC priming, so no muxer shifts a first packet that would
# start below zero (ffmpeg shifts the first part alone otherwise, a jump at its end).
TS_OFFSET_S = 1.0


def is_hls(spec: JobSpec) -> bool:
    return output_kind(spec.output, spec.live) is OutputKind.HLS


def hls_unit(gop_s: float) -> float:
    """A media segment's length on a split: the whole number of GOPs nearest
    HLS_SEGMENT_S (at least one)."""
    return gop_s * max(1, round(HLS_SEGMENT_S / gop_s))


def plan_split(spec: JobSpec, parent_id: str, length_s: float) -> Plan:
    """The plan of any split job: HLS ladders here, files in core.split."""
    if not is_hls(spec):
        return plan(spec, parent_id, length_s)
    gop_s = spec.gop_s or SPLIT_GOP_S
    maxrate, bufsize = rate_caps(spec)
    parent = replace(spec, gop_s=gop_s, maxrate=maxrate, bufsize=bufsize)
    starts = cut_points(spec.duration_s, length_s, hls_unit(gop_s), spec.fps)
    if len(starts) > MAX_SEGMENTS:
        raise InvalidArgument("spec.split", f"more than {MAX_SEGMENTS} segments: cut longer ones")
    folder = PurePosixPath(hls_layout(spec.output).directory).with_suffix(".parts")
    ends = [*starts[1:], spec.duration_s]
    segments = tuple(
        Segment(i, start, end - start, f"{folder / f'{i:04d}'}/")
        for i, (start, end) in enumerate(zip(starts, ends, strict=True))
    )
    finish = replace(parent, split="", concat=tuple(s.output for s in segments))
    return Plan(parent, segments, finish)


def part_spec(p: Plan, seg: Segment) -> JobSpec:
    """One segment's encode: a file part (core.split), or every rendition of the
    ladder over its stretch, video only, into an HLS directory of its own."""
    if not is_hls(p.parent):
        return segment_spec(p, seg)
    return replace(p.parent, split=PART, seek_s=seg.start_s, duration_s=seg.duration_s,
                   output=seg.output, audio_codec="none")


def part_offset_args(spec: JobSpec) -> list[str]:
    """A part's timestamps continue where the part before ended."""
    return ["-output_ts_offset", _num(spec.seek_s + TS_OFFSET_S)]


def media_segment_s(spec: JobSpec) -> float:
    """The HLS muxer's segment length for a part or the finish's audio."""
    return hls_unit(spec.gop_s or SPLIT_GOP_S)


def _num(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".")
