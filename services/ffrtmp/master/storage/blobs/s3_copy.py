"""A copy inside an S3 bucket, of any size: one CopyObject up to 5 GiB (the
store's limit for it), else a multipart upload whose parts are copied from
byte ranges of the source (UploadPartCopy). Nothing is at the destination until
the last step succeeds; a failed multipart copy is aborted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

SINGLE_COPY_MAX = 5 * 1024**3
MAX_PARTS = 10_000

Call = Callable[..., Awaitable[Any]]


async def copy_object(
    call: Call, bucket: str, source: str, dest: str, size: int, extra: dict[str, Any],
    part_bytes: int, single_max: int = SINGLE_COPY_MAX,
) -> None:
    """`call(op, **kw)` runs one S3 operation; `extra`: metadata and content type."""
    src = {"Bucket": bucket, "Key": source}
    if size <= single_max:
        await call("copy_object", Bucket=bucket, Key=dest, CopySource=src,
                   MetadataDirective="REPLACE", **extra)
        return
    part = max(part_bytes, -(-size // MAX_PARTS))
    created = await call("create_multipart_upload", Bucket=bucket, Key=dest, **extra)
    upload_id = created["UploadId"]
    try:
        parts = []
        for n, start in enumerate(range(0, size, part), start=1):
            end = min(start + part, size) - 1
            got = await call("upload_part_copy", Bucket=bucket, Key=dest, UploadId=upload_id,
                             PartNumber=n, CopySource=src, CopySourceRange=f"bytes={start}-{end}")
            parts.append({"PartNumber": n, "ETag": got["CopyPartResult"]["ETag"]})
        await call("complete_multipart_upload", Bucket=bucket, Key=dest, UploadId=upload_id,
                   MultipartUpload={"Parts": parts})
    except BaseException:
        await call("abort_multipart_upload", Bucket=bucket, Key=dest, UploadId=upload_id)
        raise
