"""The S3 backend's housekeeping: whole jobs, usage, expiry, what is held."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from ffrtmp.core import blobnames
from ffrtmp.core.errors import InvalidArgument

STAGING = ".staging/"


class S3Upkeep:
    s3: Any
    bucket: str
    prefix: str

    async def _call(self, op: str, **kw: Any) -> Any:
        raise NotImplementedError

    async def _keys(self, prefix: str) -> AsyncIterator[dict[str, Any]]:
        paginator = self.s3.get_paginator("list_objects_v2")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj

    async def _uploads(self) -> AsyncIterator[dict[str, Any]]:
        """Unfinished multipart uploads under the prefix, past the first 1,000."""
        paginator = self.s3.get_paginator("list_multipart_uploads")
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for up in page.get("Uploads", []):
                yield up

    async def delete_job(self, job_id: str) -> int:
        if not blobnames.JOB_RE.fullmatch(job_id):
            raise InvalidArgument("job_id", "not a job id")
        keys = [o["Key"] async for o in self._keys(f"{self.prefix}jobs/{job_id}/")]
        for start in range(0, len(keys), 1000):
            batch = [{"Key": k} for k in keys[start : start + 1000]]
            await self._call("delete_objects", Bucket=self.bucket, Delete={"Objects": batch})
        return len(keys)

    async def job_ids(self) -> list[str]:
        paginator = self.s3.get_paginator("list_objects_v2")
        out = []
        where = f"{self.prefix}jobs/"
        async for page in paginator.paginate(Bucket=self.bucket, Prefix=where, Delimiter="/"):
            out += [p["Prefix"][len(where) :].rstrip("/") for p in page.get("CommonPrefixes", [])]
        return out

    async def owner_blobs(self) -> list[tuple[str, int]]:
        skip = len(self.prefix)
        return [
            (o["Key"][skip:], int(o["LastModified"].timestamp() * 1000))
            async for o in self._keys(f"{self.prefix}owners/")
        ]

    async def usage(self, owner: str) -> int:
        return sum([int(o["Size"]) async for o in self._keys(f"{self.prefix}owners/{owner}/")])

    async def expire_partials(self, older_than_s: float) -> int:
        cutoff = time.time() - older_than_s
        dropped = 0
        async for obj in self._keys(f"{self.prefix}{STAGING}"):
            if obj["LastModified"].timestamp() < cutoff:
                await self._call("delete_object", Bucket=self.bucket, Key=obj["Key"])
                dropped += 1
        for up in [u async for u in self._uploads()]:  # listed whole, then aborted
            if up["Initiated"].timestamp() < cutoff:
                await self._call(
                    "abort_multipart_upload",
                    Bucket=self.bucket,
                    Key=up["Key"],
                    UploadId=up["UploadId"],
                )
                dropped += 1
        return dropped
