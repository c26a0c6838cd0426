"""Inputs read from users' buckets (`--input s3://bucket/key`).

The master holds the credentials; for the worker holding a job's lease it reads
the object's size, ETag and (when the object has one) its SHA-256 checksum, and
signs a short-lived GET of that object pinned to that ETag: the signed If-Match
makes the store refuse the URL once the object is replaced, so the bytes a
worker fetches are the version the master looked at. The bytes go straight from
the bucket to the worker.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from ffrtmp.core.errors import FailedPrecondition, NotFound
from ffrtmp.core.s3_input import parse_s3_input
from ffrtmp.master.storage.blobs.config import BlobConfig
from ffrtmp.master.storage.blobs.protocol import BlobInfo, Presigned, Url

if TYPE_CHECKING:
    from ffrtmp.master.storage.blobs.s3 import S3BlobStore

# Signed into the GET when the SDK asks for it; the worker then sends it too.
CHECKSUM_MODE = ("x-amz-checksum-mode", "ENABLED")


class InputBuckets:
    def __init__(self, config: BlobConfig) -> None:
        self.config = config
        self.client: S3BlobStore | None = None  # one S3 client for every input bucket

    async def open(self) -> None:
        if not self.config.input_buckets:
            return
        try:
            from ffrtmp.master.storage.blobs.s3 import S3BlobStore
        except ImportError:  # aiobotocore comes with the s3 extra
            raise SystemExit("--input-buckets needs: pip install 'ffrtmp[s3]'") from None
        self.client = S3BlobStore(replace(self.config, s3_bucket="", s3_prefix=""))
        await self.client.open()

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None

    def _store(self, spec_input: str) -> tuple[S3BlobStore, str, str]:
        obj = parse_s3_input(spec_input)
        if self.client is None or obj.bucket not in self.config.input_buckets:
            raise FailedPrecondition(
                f"bucket {obj.bucket!r} is no longer in this master's --input-buckets"
            )
        return self.client, obj.bucket, obj.key

    async def _head(self, spec_input: str) -> dict[str, Any]:
        store, bucket, key = self._store(spec_input)
        try:
            head: dict[str, Any] = await store._call(
                "head_object", Bucket=bucket, Key=key, ChecksumMode="ENABLED"
            )
        except NotFound:
            raise NotFound(f"input {spec_input} is not in the bucket") from None
        return head

    async def stat(self, name: str, spec_input: str) -> BlobInfo:
        head = await self._head(spec_input)
        return BlobInfo(
            name,
            "",  # S3 keeps no SHA-256 of its own; the worker checks what presign_get names
            int(head["ContentLength"]),
            str(head.get("ContentType", "")),
            int(head["LastModified"].timestamp() * 1000),
        )

    async def presign_get(self, spec_input: str) -> Presigned:
        """A GET of the object as it is now: the If-Match of its ETag is signed,
        and the headers the worker must send come with the URL."""
        head = await self._head(spec_input)
        store, bucket, key = self._store(spec_input)
        etag = str(head["ETag"])
        ttl = int(self.config.presign_ttl_s)
        url: str = await store.s3.generate_presigned_url(
            "get_object",
            Params={"Bucket": bucket, "Key": key, "IfMatch": etag, "ChecksumMode": "ENABLED"},
            ExpiresIn=ttl,
        )
        headers = {"If-Match": etag}
        # Checksum mode has the GET answer the object's stored SHA-256, if any.
        signed = parse_qs(urlsplit(url).query).get("X-Amz-SignedHeaders", [""])[0].split(";")
        if CHECKSUM_MODE[0] in signed:
            headers[CHECKSUM_MODE[0]] = CHECKSUM_MODE[1]
        size = int(head["ContentLength"])
        return Presigned(
            (Url(url, tuple(headers.items()), size=size),),
            int((time.time() + ttl) * 1000),
        )
