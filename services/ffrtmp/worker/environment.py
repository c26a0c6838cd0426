"""What a run needs from its worker, and the checks made before ffmpeg starts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ffrtmp.core.argv import is_synthetic
from ffrtmp.core.ffmpeg_build import FfmpegFeatures
from ffrtmp.core.model import JobSpec
from ffrtmp.core.outputs import OutputKind
from ffrtmp.core.split import AUDIO
from ffrtmp.worker.output_probe import probe_output
from ffrtmp.worker.paths import JobIO
from ffrtmp.worker.runner import FFMPEG_NICE
from ffrtmp.worker.staging import free_bytes

# Below this much free space under the output root a run is refused (transiently:
# another worker may have room), rather than failing half way with a full disk.
DEFAULT_MIN_FREE_BYTES = 1 << 30
MIB = 1 << 20


class Refused(Exception):
    """This worker will not start the run now; another may."""


@dataclass(frozen=True, slots=True)
class Environment:
    """What a run needs from its worker."""

    ffmpeg: str
    encoders: tuple[str, ...]
    input_root: Path
    output_root: Path
    rtmp_base: str
    stall_timeout: Callable[[], float]  # from the master's Welcome; may change
    min_free_bytes: int = DEFAULT_MIN_FREE_BYTES
    nice: int = FFMPEG_NICE  # for jobs that do not set their own
    allow_raw_args: bool = False
    # What the worker's probe found in the binary; None: look it up by path.
    features: FfmpegFeatures | None = None
    # The launcher's deadline at spawn (see contact.py); None for none.
    deadline: Callable[[], float | None] = lambda: None


def check_protocols(features: FfmpegFeatures, *urls: str) -> None:
    """Refuse a run whose input or output needs a protocol this build lacks
    (transiently: another worker's build may have it)."""
    for url in urls:
        missing = features.missing_protocol(url)
        if missing is not None:
            short = features.version.short
            raise Refused(f"this worker's ffmpeg {short} has no {missing} protocol")


def check_free_space(root: Path, minimum: int) -> None:
    """Refuse a run whose output disk is nearly full (`root` may not exist yet)."""
    existing = next((p for p in (root, *root.parents) if p.exists()), Path("/"))
    free = free_bytes(existing)
    if free < minimum:
        raise Refused(f"output disk nearly full: {free // MIB} MiB free")


async def input_has_audio(ffmpeg: str, spec: JobSpec, io: JobIO) -> bool:
    """Whether the input carries audio; only asked where it matters (an HLS ladder
    must map audio per rendition explicitly, and a missing stream fails it; a
    split's audio part of an input without audio writes a placeholder)."""
    if (io.kind is not OutputKind.HLS and spec.split != AUDIO) or is_synthetic(spec):
        return True
    info = await probe_output(ffmpeg, io.input_url, 0)
    return info is not None and any(s.kind == "audio" for s in info.streams)
