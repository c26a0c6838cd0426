"""What a job's output is: a file, a network push, an HLS directory, or nothing.

The one place that reads an output string, so spec validation, the worker's path
resolution and the argv builder never disagree about a kind.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import PurePosixPath

from ffrtmp.core.s3_output import is_s3_output

NULL_OUTPUT = "null:"
HLS_EXTENSION = ".m3u8"
DEFAULT_MASTER = "master.m3u8"
HLS_SEGMENT_S = 2
# Network outputs and the muxer they carry; RTMP only speaks FLV.
STREAM_MUXERS = {
    "rtmp://": "flv",
    "rtmps://": "flv",
    "srt://": "mpegts",
    "udp://": "mpegts",
    "rtp://": "rtp_mpegts",
}
# Muxer per file extension.
MUXERS = {
    ".mp4": "mp4",
    ".m4v": "mp4",
    ".mov": "mov",
    ".mkv": "matroska",
    ".webm": "webm",
    ".ts": "mpegts",
    ".flv": "flv",
}
FASTSTART_MUXERS = frozenset({"mp4", "mov"})


class OutputKind(enum.Enum):
    FILE = "file"
    STREAM = "stream"  # pushed to a URL, or to the worker's RTMP base for live jobs
    HLS = "hls"
    NULL = "null"  # encode and discard: benchmarks

    @property
    def local(self) -> bool:
        """Written under the worker's output root (staged, checked for disk space)."""
        return self in (OutputKind.FILE, OutputKind.HLS)


def _key_part(output: str) -> str:
    """An S3 output's key, read like a local path (core/s3_output.py)."""
    return output[5:].partition("/")[2] if is_s3_output(output) else output


def output_kind(output: str, live: bool) -> OutputKind:
    output = _key_part(output)
    if output == NULL_OUTPUT:
        return OutputKind.NULL
    if output.lower().startswith(tuple(STREAM_MUXERS)) or (live and not output):
        return OutputKind.STREAM
    if output.endswith("/") or output.lower().endswith(HLS_EXTENSION):
        return OutputKind.HLS
    return OutputKind.FILE


@dataclass(frozen=True, slots=True)
class HlsLayout:
    """An HLS output: a directory of its own holding the master playlist, one media
    playlist per rendition (`<stem>_<n>.m3u8`) and their segments."""

    directory: str  # relative to the output root
    master: str  # file name of the master playlist

    @property
    def stem(self) -> str:
        return PurePosixPath(self.master).stem


def hls_layout(output: str) -> HlsLayout:
    """`hls/show/` or `hls/show/index.m3u8`; ValueError when there is no directory,
    since the directory is what is staged and renamed into place as a whole."""
    output = _key_part(output)
    if output.endswith("/"):
        directory, master = output.rstrip("/"), DEFAULT_MASTER
    else:
        path = PurePosixPath(output)
        directory, master = str(path.parent), path.name
    if directory in ("", ".", "/") or master == HLS_EXTENSION:
        raise ValueError("an HLS output needs a directory of its own, e.g. hls/show/")
    return HlsLayout(directory, master)


def output_muxer(output_url: str) -> str | None:
    """The muxer for a stream or file output: by URL scheme, else by extension."""
    lowered = output_url.lower()
    for scheme, muxer in STREAM_MUXERS.items():
        if lowered.startswith(scheme):
            return muxer
    for extension, muxer in MUXERS.items():
        if lowered.endswith(extension):
            return muxer
    return None  # let ffmpeg guess, and fail loudly if it cannot


def hls_muxer_args(
    directory: str, layout: HlsLayout, variants: list[str], live: bool, segment_s: float = 0
) -> list[str]:
    """The hls muxer writing into `directory` (the staged one); `variants` are
    var_stream_map entries such as "v:0,a:0"; `segment_s`: 0 for HLS_SEGMENT_S."""
    base = f"{directory.rstrip('/')}/{layout.stem}"
    every = f"{segment_s:.6f}".rstrip("0").rstrip(".") if segment_s else str(HLS_SEGMENT_S)
    return [
        *["-f", "hls", "-hls_time", every, "-hls_list_size", "0"],
        # event: a player may start while a live job still runs; vod: the whole list.
        *["-hls_playlist_type", "event" if live else "vod"],
        *["-hls_segment_filename", f"{base}_%v_%05d.ts"],
        *["-master_pl_name", layout.master],
        *["-var_stream_map", " ".join(variants)],
        f"{base}_%v{HLS_EXTENSION}",
    ]


def owner_space(output: str, live: bool, owner: str, job_id: str) -> str:
    """The output as the worker gets it: files and HLS directories under a
    directory named after the job's owner (`alice/clip.mp4`, `alice/<job id>.mp4`
    for no output), so one user's names never meet another's. Pushes, `null:`
    and jobs without an owner are left alone. Owner names are path-safe (a
    certificate's name or an API key's user: letters, digits, `.`, `_`, `@`, `-`,
    never starting with a dot). An S3 output names the user's bucket: unchanged."""
    if not owner or is_s3_output(output):
        return output
    if output_kind(output, live) not in (OutputKind.FILE, OutputKind.HLS):
        return output
    return f"{owner}/{output or f'{job_id}.mp4'}"
