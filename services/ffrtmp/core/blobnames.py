"""Blob resource names, parsed and checked (no I/O).

Two name spaces (protos/ffrtmp/v1/blobs.proto says who may use which):
`owners/{owner}/blobs/{sha256}` for a user's inputs, named by their content,
and `jobs/{job}/attempts/{n}/{path}` for what an attempt wrote; `jobs/{job}/input`
names a job's `s3://` input for the worker holding its lease.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from ffrtmp.core.errors import InvalidArgument

SHA256_RE: Final = re.compile(r"[0-9a-f]{64}", re.ASCII)
# Names of owners: API key users and certificate names.
OWNER_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}", re.ASCII)
JOB_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}", re.ASCII)
SEGMENT_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,128}", re.ASCII)
MAX_PATH: Final = 512
MAX_SEGMENTS: Final = 16
FIELD: Final = "resource_name"


@dataclass(frozen=True, slots=True)
class OwnerBlob:
    owner: str
    sha256: str

    def __str__(self) -> str:
        return f"owners/{self.owner}/blobs/{self.sha256}"


@dataclass(frozen=True, slots=True)
class JobBlob:
    job_id: str
    attempt: int
    path: str

    def __str__(self) -> str:
        return f"jobs/{self.job_id}/attempts/{self.attempt}/{self.path}"


@dataclass(frozen=True, slots=True)
class JobInput:
    """A job's `s3://` input, which only the worker holding its lease may read
    (a presigned GET; the master stores nothing under this name)."""

    job_id: str

    def __str__(self) -> str:
        return f"jobs/{self.job_id}/input"


BlobName = OwnerBlob | JobBlob | JobInput


def check_sha256(digest: str, field: str = "sha256") -> str:
    if not SHA256_RE.fullmatch(digest):
        raise InvalidArgument(field, "a SHA-256 is 64 lowercase hex digits")
    return digest


def check_path(path: str, field: str = FIELD) -> str:
    """A relative path of an output: plain segments, nothing that climbs out."""
    parts = path.split("/")
    if not path or len(path) > MAX_PATH or len(parts) > MAX_SEGMENTS:
        raise InvalidArgument(
            field, f"the path must have 1-{MAX_SEGMENTS} segments, at most {MAX_PATH} characters"
        )
    for part in parts:
        if part in (".", "..") or not SEGMENT_RE.fullmatch(part):
            raise InvalidArgument(
                field,
                f"path segment {part[:40]!r} is not allowed "
                "(letters, digits, '.', '_', '-'; not '.' or '..')",
            )
    return path


def parse(name: str) -> BlobName:
    """The parts of a resource name, or InvalidArgument saying what is wrong."""
    if name.startswith("owners/"):
        parts = name.split("/")
        if len(parts) != 4 or parts[2] != "blobs":
            raise InvalidArgument(FIELD, "expected owners/{owner}/blobs/{sha256}")
        if not OWNER_RE.fullmatch(parts[1]):
            raise InvalidArgument(FIELD, f"owner {parts[1][:40]!r} is not a valid name")
        return OwnerBlob(parts[1], check_sha256(parts[3], FIELD))
    if name.startswith("jobs/") and name.endswith("/input") and name.count("/") == 2:
        job_id = name.split("/")[1]
        if not JOB_RE.fullmatch(job_id):
            raise InvalidArgument(FIELD, f"job id {job_id[:40]!r} is not valid")
        return JobInput(job_id)
    if name.startswith("jobs/"):
        parts = name.split("/", 4)
        if len(parts) != 5 or parts[2] != "attempts":
            raise InvalidArgument(FIELD, "expected jobs/{job}/attempts/{n}/{path}")
        if not JOB_RE.fullmatch(parts[1]):
            raise InvalidArgument(FIELD, f"job id {parts[1][:40]!r} is not valid")
        if not parts[3].isascii() or not parts[3].isdigit() or len(parts[3]) > 9:
            raise InvalidArgument(FIELD, f"attempt {parts[3][:12]!r} is not a number")
        return JobBlob(parts[1], int(parts[3]), check_path(parts[4]))
    if not name:
        raise InvalidArgument(FIELD, "required")
    raise InvalidArgument(
        FIELD, "expected owners/{owner}/blobs/{sha256} or jobs/{job}/attempts/{n}/{path}"
    )
