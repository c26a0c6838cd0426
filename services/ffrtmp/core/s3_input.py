"""Inputs read from a bucket: `--input s3://bucket/key`.

The master holds the credentials and lets jobs name only the buckets its operator
listed (--input-buckets: reading is granted apart from writing, since a media
library a farm may read is rarely one it may write). A worker never sees a
credential: for its current lease it gets a short-lived presigned GET of exactly
that object, pinned to the object's ETag (a signed If-Match), and fetches it into
its input cache (worker/s3input.py says what is verified).
"""

from __future__ import annotations

from dataclasses import dataclass

from ffrtmp.core.errors import FailedPrecondition, PermissionDenied
from ffrtmp.core.s3_output import S3_SCHEME, is_s3_output, split_s3_url

MAX_KEY = 1024  # S3's limit, in UTF-8 bytes
HIDDEN = ".ffrtmp/"  # an output bucket's attempt uploads: never a job's input


def is_s3_input(value: str) -> bool:
    return is_s3_output(value)  # the same scheme test


@dataclass(frozen=True, slots=True)
class S3Object:
    bucket: str
    key: str

    def __str__(self) -> str:
        return f"{S3_SCHEME}{self.bucket}/{self.key}"


def parse_s3_input(value: str) -> S3Object:
    """`s3://bucket/key` naming one object; ValueError naming what is wrong."""
    bucket, key = split_s3_url(value, "input")
    if not key or key.endswith("/"):
        raise ValueError("an S3 input names one object after the bucket, e.g. s3://bucket/in.mp4")
    if len(key.encode()) > MAX_KEY:
        raise ValueError(f"an S3 key is at most {MAX_KEY} bytes")
    if key.startswith(HIDDEN):
        raise ValueError(f"keys under {HIDDEN} are the cluster's own uploads, not inputs")
    return S3Object(bucket, key)


def job_input_resource(job_id: str) -> str:
    """The blob-service name a worker asks a presigned GET of its job's input by."""
    return f"jobs/{job_id}/input"


def check_input_allowed(value: str, buckets: tuple[str, ...]) -> None:
    """The master's policy: S3 inputs only from the buckets its operator listed."""
    if not is_s3_input(value):
        return
    bucket = parse_s3_input(value).bucket
    if not buckets:
        raise FailedPrecondition(
            "this master reads no inputs from S3: its operator sets --input-buckets "
            "(and --s3-endpoint/--s3-region and AWS credentials where needed)"
        )
    if bucket not in buckets:
        raise PermissionDenied(f"bucket {bucket!r} is not one this master may read inputs from")
