"""A split transcode's plan: where to cut, what each segment encodes, and the
join. Pure; the master turns the plan into a group of ordinary jobs.

Cuts fall on the output's GOP grid: every segment is a whole number of GOPs at
the job's frame rate, starts with an IDR frame (each segment is its own encode)
and ends a closed GOP, so the join is a stream copy (ffmpeg's concat demuxer)
with no re-encode. When the job carries cut candidates (the input's keyframes
or scene changes), each grid cut moves to the nearest one (core.cuts).
A segment reads its input from a frame-accurate start (`-ss`
before `-i`: ffmpeg decodes from the keyframe before and drops what precedes
the cut) for exactly its length. Audio is never encoded per segment (each AAC
encode starts with priming samples, a gap at every join): one more child
encodes the whole input's audio once, beside the segments (off the critical
path), and the join muxes it with the joined video, copying both.

Rate control that holds across joins: every segment gets the same capped VBR
(target bitrate, maxrate and bufsize), so no segment can spend more than the
cap allows; each segment's buffer starts full, which a single encode's would
not at that point — a short burst after each cut, bounded by the cap. Encoder
features that look far ahead within one encode are turned off per segment
(SEGMENT_ARGS), or every short encode would start by starving itself.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import PurePosixPath

from ffrtmp.core.cuts import move_cuts
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import JobSpec
from ffrtmp.core.sizes import bitrate_bps
from ffrtmp.core.spec_split import split_length

AUTO_MIN_INPUT_S = 60.0  # "auto": shorter inputs are one encode
AUTO_MIN_SEGMENT_S = 10.0
# Long inputs get more segments than two per worker: a segment that runs slow (a
# busy host) then holds the join up by a minute at most, for about a second of
# overhead a segment.
AUTO_MAX_SEGMENT_S = 60.0
AUTO_SEGMENTS_PER_WORKER = 2  # so a slow segment does not hold the join up alone
SPLIT_GOP_S = 2.0  # the GOP when the job sets none: cuts need a fixed grid
CAP_FACTOR = 1.5  # maxrate over the target bitrate when the job sets no cap
MAX_SEGMENTS = 500
PART = "part"  # a segment's `split`: it is one part of a split job
AUDIO = "audio"  # the audio part's: the whole input's audio, no video
JOINED = "join"  # a join's whose last part is the audio, copied (older joins encode it)
# Per encoder, what a segment's encode turns off so that its rate control starts
# where a single encode's would: x264's macroblock tree, in one-pass ABR, makes
# each short encode undershoot its bitrate from the start (measured: 8 % fewer
# bits and 3.4 VMAF points below one encode at 150 kb/s; without it 0.1).
SEGMENT_ARGS: dict[str, tuple[str, ...]] = {"libx264": ("-mbtree", "0")}


@dataclass(frozen=True, slots=True)
class Segment:
    index: int
    start_s: float
    duration_s: float
    output: str


@dataclass(frozen=True, slots=True)
class Plan:
    parent: JobSpec  # the job's spec with the GOP and rate caps the segments share
    segments: tuple[Segment, ...]
    join: JobSpec
    audio: JobSpec | None = None  # a file split's audio part; None: no audio track


def segment_length(spec: JobSpec, workers: int) -> float:
    """Seconds per segment; 0 when the job is one encode ("" or "auto" declined:
    a short input, or fewer than two workers that can run it)."""
    length = split_length(spec.split)
    if length == 0:
        return 0.0
    if spec.duration_s <= 0:
        raise InvalidArgument(
            "spec.duration_s", "a split needs the input's length (the CLI probes a local file)"
        )
    if length is None:
        if workers < 2 or spec.duration_s < AUTO_MIN_INPUT_S:
            return 0.0
        share = spec.duration_s / (workers * AUTO_SEGMENTS_PER_WORKER)
        length = max(AUTO_MIN_SEGMENT_S, min(AUTO_MAX_SEGMENT_S, share))
    return length


def cut_points(duration_s: float, length_s: float, gop_s: float, fps: float) -> list[float]:
    """Segment starts on the GOP grid (in whole frames when the rate is known);
    a tail shorter than half a segment joins the one before it."""
    if fps > 0:
        gop = max(1, round(gop_s * fps))
        step = max(1, math.floor(length_s / (gop / fps) + 0.5)) * gop
        total = round(duration_s * fps)
        starts = list(range(0, total, step))
        if len(starts) > 1 and total - starts[-1] < step / 2:
            starts.pop()
        return [s / fps for s in starts]
    step_s = max(1, math.floor(length_s / gop_s + 0.5)) * gop_s
    count = max(1, math.floor(duration_s / step_s + 0.5))
    return [i * step_s for i in range(count)]


def rate_caps(spec: JobSpec) -> tuple[str, str]:
    """The maxrate and bufsize every segment shares."""
    if spec.maxrate or not spec.bitrate:
        return spec.maxrate, spec.bufsize
    return str(round(bitrate_bps(spec.bitrate) * CAP_FACTOR)), spec.bufsize


def plan(spec: JobSpec, parent_id: str, length_s: float) -> Plan:
    """The segments and the join of a split job (`length_s` from segment_length)."""
    gop_s = spec.gop_s or SPLIT_GOP_S
    maxrate, bufsize = rate_caps(spec)
    # The candidates have done their work once the cuts are chosen: not stored again.
    parent = replace(spec, gop_s=gop_s, maxrate=maxrate, bufsize=bufsize, split_cuts=())
    starts = cut_points(spec.duration_s, length_s, gop_s, spec.fps)
    starts = move_cuts(starts, spec.split_cuts, spec.duration_s, length_s, spec.fps)
    if len(starts) > MAX_SEGMENTS:
        raise InvalidArgument("spec.split", f"more than {MAX_SEGMENTS} segments: cut longer ones")
    output = spec.output or f"{parent_id}.mp4"
    folder = PurePosixPath(output).with_suffix(".parts")
    ends = [*starts[1:], spec.duration_s]
    segments = tuple(
        Segment(i, start, end - start, str(folder / f"{i:04d}.mp4"))
        for i, (start, end) in enumerate(zip(starts, ends, strict=True))
    )
    parts = tuple(s.output for s in segments)
    copy = replace(parent, passes=0)  # the audio and the join encode no video
    if parent.audio_codec == "none":
        return Plan(parent, segments, replace(copy, split="", output=output, concat=parts))
    audio = replace(copy, split=AUDIO, output=str(folder / "audio.mp4"), renditions=())
    join = replace(copy, split=JOINED, output=output, concat=(*parts, audio.output))
    return Plan(parent, segments, join, audio)


def is_part(spec: JobSpec) -> bool:
    """A segment or the audio of a split: an output only its join reads."""
    return spec.split in (PART, AUDIO)


def segment_spec(p: Plan, seg: Segment) -> JobSpec:
    """One segment's encode: video only, its stretch of the input, the shared
    GOP and caps, into an MP4 the join reads."""
    return replace(
        p.parent, split=PART, seek_s=seg.start_s, duration_s=seg.duration_s, output=seg.output,
        audio_codec="none", renditions=(),
    )
