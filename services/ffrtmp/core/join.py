"""The argv of a join (a split's last step): the segments' video by stream copy
through ffmpeg's concat demuxer, with the audio of the whole input encoded once
and muxed beside it. Pure, like core.argv."""

from __future__ import annotations

from pathlib import Path

from ffrtmp.core.argv import LAVFI_AUDIO, audio_args, head_args, is_synthetic, num, output_args
from ffrtmp.core.ffmpeg_build import FfmpegFeatures
from ffrtmp.core.model import JobSpec
from ffrtmp.core.outputs import output_kind


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
) -> list[str]:
    audio = spec.audio_codec != "none" and (has_audio or is_synthetic(spec))
    argv = head_args(ffmpeg, features or FfmpegFeatures())
    argv += ["-f", "concat", "-safe", "0", "-i", list_path]
    if audio:
        source = ["-f", "lavfi", "-i", LAVFI_AUDIO] if is_synthetic(spec) else ["-i", input_url]
        argv += [*source, "-map", "0:v:0", "-map", "1:a:0", "-c:v", "copy"]
        argv += audio_args(spec, output_url)
    else:
        argv += ["-map", "0:v:0", "-c:v", "copy", "-an"]
    if spec.duration_s > 0:
        argv += ["-t", num(spec.duration_s)]
    return argv + output_args(spec, output_kind(spec.output, False), output_url, audio)
