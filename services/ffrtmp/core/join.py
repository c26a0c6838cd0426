"""The argv of a join (a split's last step): the segments' video by stream copy
through ffmpeg's concat demuxer, with the audio of the whole input encoded once
and muxed beside it. Pure, like core.argv."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath

from ffrtmp.core.argv import LAVFI_AUDIO, audio_args, head_args, is_synthetic, num, output_args
from ffrtmp.core.blobref import ASSIGNED_PREFIX
from ffrtmp.core.ffmpeg_build import FfmpegFeatures
from ffrtmp.core.model import Job, JobSpec
from ffrtmp.core.outputs import OutputKind, hls_layout, output_kind
from ffrtmp.core.split import JOINED


def video_parts(spec: JobSpec, parts: list[Path]) -> tuple[list[Path], Path | None]:
    """The parts whose video is concatenated, and the audio part (a join made
    with one: its last) or None (the join encodes the input's audio itself)."""
    if spec.split == JOINED and parts:
        return parts[:-1], parts[-1]
    return parts, None


def concat_list(paths: list[Path]) -> str:
    """The concat demuxer's list: one quoted absolute path a line (a quote in a
    name is closed, escaped and reopened)."""
    return "".join("file '" + str(p).replace("'", "'\\''") + "'\n" for p in paths)


def join_argv(
    ffmpeg: str,
    spec: JobSpec,
    *,
    list_path: str,
    input_url: str,
    output_url: str,
    has_audio: bool,
    features: FfmpegFeatures | None = None,
    audio_part: str = "",
) -> list[str]:
    """`audio_part`: the split's audio, encoded already: copied as it is."""
    audio = spec.audio_codec != "none" and (has_audio or is_synthetic(spec))
    argv = head_args(ffmpeg, features or FfmpegFeatures())
    argv += ["-f", "concat", "-safe", "0", "-i", list_path]
    if audio_part:
        # "?": an input without audio gave an audio part without any (core.argv).
        argv += ["-i", audio_part, "-map", "0:v:0", "-map", "1:a:0?"]
        argv += ["-c:v", "copy", "-c:a", "copy"]
    elif audio:
        source = ["-f", "lavfi", "-i", LAVFI_AUDIO] if is_synthetic(spec) else ["-i", input_url]
        argv += [*source, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy"]
        argv += audio_args(spec, output_url)
    else:
        argv += ["-map", "0:v:0", "-c:v", "copy", "-an"]
    if spec.duration_s > 0:
        argv += ["-t", num(spec.duration_s)]
    kind = output_kind(spec.output, False)
    return argv + output_args(spec, kind, output_url, audio or bool(audio_part))


def stored_parts(
    depends_on: tuple[str, ...], deps: Mapping[str, Job], concat: tuple[str, ...]
) -> tuple[str, ...] | None:
    """A join's parts as the blobs its segments stored ("blob:" + resource, in
    order), so that workers sharing no directory can join: a file part's one
    blob, an HLS part's master playlist (its other files are named from there).
    None when a segment stored no such blob (no media store): the parts stay
    local paths."""
    if len(concat) != len(depends_on):
        return None
    parts = []
    for dep_id, part in zip(depends_on, concat, strict=True):
        dep = deps.get(dep_id)
        info = dep.output_info if dep is not None else None
        if info is None:
            return None
        if output_kind(part, False) is OutputKind.HLS:
            layout = hls_layout(part)
            name = f"{PurePosixPath(layout.directory).name}/{layout.master}"
            found = [a for a in info.artifacts if a.name == name]
        else:
            found = list(info.artifacts)
        if len(found) != 1:
            return None
        parts.append(ASSIGNED_PREFIX + found[0].resource)
    return tuple(parts)


def part_resources(deps: Sequence[Job]) -> set[str]:
    """The blobs a join may read: what the jobs it depends on stored."""
    return {a.resource for d in deps if d.output_info for a in d.output_info.artifacts}
