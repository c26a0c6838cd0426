"""Checks of a spec's split fields: the split request itself, a start offset,
and a join's list of segment outputs. core.spec calls them."""

from __future__ import annotations

import math

from ffrtmp.core.durations import parse_duration
from ffrtmp.core.errors import InvalidArgument
from ffrtmp.core.model import JobSpec
from ffrtmp.core.outputs import output_kind
from ffrtmp.core.s3_output import is_s3_output
from ffrtmp.core.spec_paths import check_output

MAX_CONCAT = 1000
MIN_SEGMENT_S = 2.0


def split_length(text: str) -> float | None:
    """A split request's segment length in seconds; None for "auto"; 0 for no split."""
    if not text or text in ("part", "audio", "join"):  # a split's children: not split again
        return 0.0
    if text == "auto":
        return None
    if len(text) > 32:
        raise InvalidArgument("spec.split", "longer than 32 characters")
    try:
        seconds = parse_duration(text)
    except ValueError:
        raise InvalidArgument("spec.split", f"not a length or auto: {text[:64]!r}") from None
    if not math.isfinite(seconds) or seconds < MIN_SEGMENT_S:
        raise InvalidArgument("spec.split", f"segments must be at least {MIN_SEGMENT_S:g} s")
    return seconds


def check_split(split: str, seek_s: float, concat: tuple[str, ...]) -> None:
    """Each field on its own (core.spec); `check_together` judges the mix."""
    split_length(split)
    if not math.isfinite(seek_s) or seek_s < 0:
        raise InvalidArgument("spec.seek_s", "must be a non-negative number of seconds")
    if len(concat) > MAX_CONCAT:
        raise InvalidArgument("spec.concat", f"at most {MAX_CONCAT} files")
    for part in concat:
        if is_s3_output(part):
            raise InvalidArgument("spec.concat", "parts are earlier outputs kept by the cluster")
        if not output_kind(part, False).local:
            raise InvalidArgument("spec.concat", f"not a file or HLS output: {part[:64]!r}")
        try:
            check_output(part)
        except InvalidArgument as exc:
            raise InvalidArgument("spec.concat", str(exc).partition(": ")[2]) from None


def check_together(spec: JobSpec) -> None:
    """What a submitted job may combine: live jobs are never split, joined or
    started late; a split writes a file or an HLS ladder, and a join's parts are
    of its output's kind (files joined into a file, HLS parts into a ladder)."""
    if spec.live and (spec.split or spec.seek_s or spec.concat):
        name = "split" if spec.split else "seek_s" if spec.seek_s else "concat"
        raise InvalidArgument(f"spec.{name}", "live jobs are never split, joined or started late")
    if (spec.split or spec.concat) and is_s3_output(spec.output):
        name = "split" if spec.split else "concat"
        raise InvalidArgument(f"spec.{name}", "split and joined jobs cannot write to s3:// yet")
    kind = output_kind(spec.output, False)
    if spec.split and not kind.local:
        raise InvalidArgument("spec.split", "only a file or HLS output can be split (not a"
                              " stream or null:)")
    if any(output_kind(part, False) is not kind for part in spec.concat):
        raise InvalidArgument("spec.concat", f"every part must be a {kind.value} output like"
                              " the output it is joined into")
    if spec.split and spec.concat:
        raise InvalidArgument("spec.concat", "a join is not split")
