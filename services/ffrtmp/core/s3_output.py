"""Outputs written straight to a user's bucket: `s3://bucket/key`.

The key is read like a local output: a file by its extension (`s3://b/films/clip.mp4`),
an HLS directory by a trailing `/` or a `.m3u8` name (`s3://b/shows/ep1/`). Each
stored file of the output lands at the key's directory plus its artifact name, the
same relative name `jobs fetch` would create: `films/clip.mp4`, or
`shows/ep1/master.m3u8`, `shows/ep1/master_0_00001.ts`, ...
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import PurePosixPath

from ffrtmp.core.errors import FailedPrecondition, PermissionDenied

S3_SCHEME = "s3://"
# S3's rules for new buckets: 3-63 lowercase letters, digits, '.', '-', starting
# and ending with a letter or digit, no "..", not an IPv4 address.
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]", re.ASCII)
_IPV4 = re.compile(r"\d+\.\d+\.\d+\.\d+", re.ASCII)


def is_s3_output(output: str) -> bool:
    return output[:5].lower() == S3_SCHEME


def check_bucket(bucket: str) -> None:
    if not _BUCKET.fullmatch(bucket) or ".." in bucket or _IPV4.fullmatch(bucket):
        raise ValueError(
            f"bucket {bucket[:64]!r} is not a valid S3 bucket name (3-63 lowercase letters, "
            "digits, '.' and '-')"
        )


@dataclass(frozen=True, slots=True)
class S3Output:
    bucket: str
    path: str  # the key as written, read like a local output path

    @property
    def base(self) -> str:
        """The key prefix every artifact name is appended to: the directory that
        holds the file, or the HLS directory's parent ('' or ending in '/')."""
        p = self.path
        if p.endswith("/") or p.lower().endswith(".m3u8"):  # HLS: the directory's parent
            directory = p.rstrip("/") if p.endswith("/") else str(PurePosixPath(p).parent)
            path = str(PurePosixPath(directory).parent)
        else:
            path = str(PurePosixPath(p).parent)
        return "" if path in ("", ".") else path + "/"

    def key(self, artifact_name: str) -> str:
        return self.base + artifact_name

    def url(self, artifact_name: str) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key(artifact_name)}"


def split_s3_url(value: str, what: str) -> tuple[str, str]:
    """`s3://bucket/rest` as (a checked bucket name, rest); ValueError naming what
    is wrong, `what` being "input" or "output"."""
    if not is_s3_output(value):
        raise ValueError(f"an S3 {what} is s3://bucket/key")
    bucket, _, rest = value[len(S3_SCHEME) :].partition("/")
    check_bucket(bucket)
    return bucket, rest


def parse_s3_output(output: str) -> S3Output:
    """`s3://bucket/key`; ValueError naming what is wrong."""
    bucket, path = split_s3_url(output, "output")
    if not path.strip("/"):
        raise ValueError(
            "an S3 output names a key after the bucket, e.g. s3://bucket/films/clip.mp4"
        )
    if any(part.startswith(".") for part in path.split("/")):
        # .ffrtmp/ holds the attempts' uploads (and '.'/'..' name no key)
        raise ValueError("an S3 output's key has no part starting with '.'")
    return S3Output(bucket, path)


def output_path(output: str) -> str:
    """The key part of an S3 output (what the worker writes locally under a
    scratch directory), or the output itself when it is not one."""
    return parse_s3_output(output).path if is_s3_output(output) else output


def check_allowed(output: str, buckets: tuple[str, ...]) -> None:
    """The master's policy: S3 outputs only into the buckets its operator listed
    (--output-buckets); a master with none takes no S3 output."""
    if not is_s3_output(output):
        return
    bucket = parse_s3_output(output).bucket
    if not buckets:
        raise FailedPrecondition(
            "this master writes no outputs to S3: its operator sets --output-buckets "
            "(and --s3-endpoint/--s3-region and AWS credentials where needed)"
        )
    if bucket not in buckets:
        raise PermissionDenied(f"bucket {bucket!r} is not one this master may write outputs to")
