"""Locate the ffmpeg binary a worker runs."""

from __future__ import annotations

import os
import shutil


class FfmpegNotFound(FileNotFoundError):
    """No usable ffmpeg; the message says where we looked."""


class FfmpegUnsupported(FfmpegNotFound):
    """An ffmpeg too old, or lacking what every job needs; the message names the
    version found, the minimum and --ffmpeg."""


def find_ffmpeg(explicit: str | None = None) -> str:
    """An explicit path (or name on PATH) > `ffmpeg` on PATH > the imageio-ffmpeg binary.

    An explicit choice that does not resolve is an error rather than a silent fallback:
    the operator asked for that binary, and a different build may lack its encoders.
    """
    if explicit:
        found = _executable(explicit)
        if found is None:
            raise FfmpegNotFound(f"ffmpeg {explicit!r} is not an executable file")
        return found
    on_path = shutil.which("ffmpeg")
    if on_path:
        return on_path
    bundled = _imageio_ffmpeg()
    if bundled:
        return bundled
    raise FfmpegNotFound(
        "no ffmpeg found: install one on PATH, install imageio-ffmpeg, "
        "or name a binary with --ffmpeg / FFRTMP_FFMPEG"
    )


def _executable(name: str) -> str | None:
    if os.sep in name:
        return name if os.path.isfile(name) and os.access(name, os.X_OK) else None
    return shutil.which(name)


def _imageio_ffmpeg() -> str | None:
    try:
        import imageio_ffmpeg
    except ImportError:
        return None
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except RuntimeError:  # the package is there but carries no binary for this platform
        return None
    return str(exe) if exe else None
