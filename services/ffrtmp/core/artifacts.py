"""A job's stored outputs: names, content types and the checks a worker's list of
them must pass before the master records it.

A run's uploads live in its attempt's name space until the master accepts that
attempt's success; only then are they the job's artifacts (a stale attempt's
upload never replaces the winner's).
"""

from __future__ import annotations

import re
from pathlib import PurePosixPath

from ffrtmp.core.model import Artifact

# An hour of 2-second HLS segments in a five-rung ladder, with room to spare.
MAX_ARTIFACTS = 16384
MAX_NAME = 512
_HEX = re.compile(r"[0-9a-f]{64}", re.ASCII)

CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".m4s": "video/iso.segment",
    ".mov": "video/quicktime",
    ".mkv": "video/x-matroska",
    ".flv": "video/x-flv",
    ".ts": "video/mp2t",
    ".m3u8": "application/vnd.apple.mpegurl",
    ".aac": "audio/aac",
    ".vtt": "text/vtt",
}


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(PurePosixPath(name).suffix.lower(), "application/octet-stream")


def check_name(name: str) -> None:
    """A relative POSIX path without '..', '.', empty parts or control characters:
    what `jobs fetch` may create under the user's directory."""
    parts = name.split("/")
    if (
        not name
        or len(name) > MAX_NAME
        or any(p in ("", ".", "..") for p in parts)
        or any(ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in name)
    ):
        raise ValueError(f"artifact name {name[:64]!r} is not a plain relative path")


def check_artifacts(artifacts: tuple[Artifact, ...], prefix: str) -> None:
    """What a worker reports: bounded, well named, unique, each inside `prefix`
    (its own attempt's name space). ValueError names the first problem."""
    if len(artifacts) > MAX_ARTIFACTS:
        raise ValueError(f"more than {MAX_ARTIFACTS} artifacts")
    seen: set[str] = set()
    for a in artifacts:
        check_name(a.name)
        if a.name in seen:
            raise ValueError(f"artifact {a.name!r} is listed twice")
        seen.add(a.name)
        if not _HEX.fullmatch(a.sha256):
            raise ValueError(f"artifact {a.name!r}: sha256 is not 64 lowercase hex digits")
        if a.size_bytes < 0 or not a.resource.startswith(prefix):
            raise ValueError(f"artifact {a.name!r} is not in this attempt's name space")
        if len(a.content_type) > 128:
            raise ValueError(f"artifact {a.name!r}: content type too long")
